"""The one powertools Logger every module logs through, so all lines share the correlation keys."""

import os

from aws_lambda_powertools import Logger

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "elasticache-user-resource")

logger = Logger(service=SERVICE)
