"""Lambda entry point of the Custom::ElastiCacheUser resource."""

from __future__ import annotations

import gc

# Start-up builds hundreds of thousands of long-lived objects (botocore's service models);
# the cyclic GC would scan them again and again, about a fifth of a cold start. Collect
# nothing while starting, then freeze what start-up built so later collections skip it.
gc.disable()

import os  # noqa: E402
from typing import Any  # noqa: E402

from aws_lambda_powertools import Metrics  # noqa: E402
from aws_lambda_powertools.metrics import MetricUnit  # noqa: E402

from cloudformation.request import CRHELPER_POLL, CfnRequest, echoed_physical_id  # noqa: E402
from cloudformation.response import answer_failed, is_allowed_response_url  # noqa: E402
from provider.cfn_resource import Result, UserResource  # noqa: E402
from rules.envelope import envelope_problem  # noqa: E402
from runtime.clients import aws_client, elasticache_client  # noqa: E402
from runtime.config import Settings, allowed_hosts  # noqa: E402
from runtime.environment import SETTING  # noqa: E402
from runtime.log import SERVICE, logger  # noqa: E402
from runtime.metrics import REQUESTS_REFUSED, outcome  # noqa: E402

metrics = Metrics(namespace=SETTING["POWERTOOLS_METRICS_NAMESPACE"].text(), service=SERVICE)
resource: UserResource | None = None
start_error = ""
try:
    settings = Settings.from_environment()
    resource = UserResource(settings)
    # Built at import, so a cold start pays for it once, outside the first request's time budget.
    elasticache_client(os.environ.get("AWS_ENDPOINT_URL_ELASTICACHE"), settings.deadline_margin)
    aws_client("cloudformation", settings.deadline_margin)  # every request is confirmed with it first
except Exception as error:  # noqa: BLE001 - every request must still be answered.
    logger.exception("the provider failed to start")
    start_error = type(error).__name__

gc.freeze()
gc.enable()


def _answer_start_failure(event: Any, context: Any) -> Result:
    if not isinstance(event, dict):
        return Result.IGNORED
    well_formed = envelope_problem(event) is None
    if well_formed and CRHELPER_POLL in event and is_allowed_response_url(event.get("ResponseURL"), allowed_hosts()):
        from cloudformation.admission import poll_rule
        from cloudformation.polling import remove_poll

        # A poll of a function that cannot start: stop it, or EventBridge invokes it for ever. Its
        # rule is computed from the request, never read from the event (which anyone may write).
        remove_poll(poll_rule(CfnRequest.from_event(event, now=0.0, is_poll=True), context.function_name), 10.0)
    reason = f"The provider function failed to start ({start_error}); see its logs."
    sent = answer_failed(event, reason, echoed_physical_id(event), allowed_hosts=allowed_hosts())
    return Result.FAILED if sent else Result.IGNORED


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: Any, context: Any) -> None:
    """Answer one CloudFormation request for a Custom::ElastiCacheUser (never raises)."""
    try:
        result = resource.handle(event, context) if resource else _answer_start_failure(event, context)
    except Exception:  # noqa: BLE001 - a crash here would leave CloudFormation waiting for an hour.
        logger.exception("unexpected error outside the request handling")
        result = Result.FAILED
    request_type = event.get("RequestType") if isinstance(event, dict) else None
    metrics.add_metric(name=outcome(request_type, result.value), unit=MetricUnit.Count, value=1)
    if result is Result.REFUSED:
        metrics.add_metric(name=REQUESTS_REFUSED, unit=MetricUnit.Count, value=1)
