"""The one powertools Logger every module logs through, so all lines share the correlation keys."""

import logging

from aws_lambda_powertools import Logger

from runtime.environment import SETTING

SERVICE = SETTING["POWERTOOLS_SERVICE_NAME"].text()
# At DEBUG these log whole events and request bodies (passwords, the presigned ResponseURL).
QUIET_LIBRARIES = ("crhelper", "botocore", "boto3", "urllib3")

logger = Logger(service=SERVICE)


def quiet_libraries() -> None:
    """Hold the libraries' loggers at WARNING, whatever the root logger's level."""
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
