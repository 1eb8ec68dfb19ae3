"""Lambda entry point of the Custom::ElastiCacheUser resource."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from config import Settings
from log import SERVICE, logger
from user_resource import UserResource, elasticache_client

metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ElastiCacheUserResource"), service=SERVICE)
resource = UserResource(Settings.from_environment())
# Built at import, so a cold start pays for it once, outside the first request's time budget.
elasticache_client(os.environ.get("AWS_ENDPOINT_URL_ELASTICACHE"))


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
