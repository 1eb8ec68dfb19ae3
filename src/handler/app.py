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

from config import Settings  # noqa: E402
from log import SERVICE, logger  # noqa: E402
from user_resource import UserResource, elasticache_client  # noqa: E402

metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ElastiCacheUserResource"), service=SERVICE)
resource = UserResource(Settings.from_environment())
# Built at import, so a cold start pays for it once, outside the first request's time budget.
elasticache_client(os.environ.get("AWS_ENDPOINT_URL_ELASTICACHE"))

gc.freeze()
gc.enable()


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: Any, context: Any) -> None:
    """Answer one CloudFormation request for a Custom::ElastiCacheUser (never raises)."""
    try:
        resource.handle(event, context)
    except Exception:  # noqa: BLE001 - a crash here would leave CloudFormation waiting for an hour.
        logger.exception("unexpected error outside the request handling")
    request_type = event.get("RequestType") if isinstance(event, dict) else None
    prefix = request_type if request_type in ("Create", "Update", "Delete") else "Request"
    metrics.add_metric(name=f"{prefix}{resource.outcome or 'Failed'}", unit=MetricUnit.Count, value=1)
