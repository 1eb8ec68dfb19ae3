"""A Lambda context object with a real deadline, as the Lambda runtime passes one, and the
environment a demo's functions run in."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field


@dataclass
class LambdaContext:
    """What the handler reads from the Lambda runtime's context: names and the time left."""

    timeout_seconds: float = 900.0
    # The provider's name as the template makes it (the IAM policy names it): <stack>-elasticache-user.
    function_name: str = "user-provider-elasticache-user"
    memory_limit_in_mb: int = 128
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


def demo_environment(**settings: str) -> None:
    """Before a demo imports the functions: a region, credentials that reach no AWS account,
    answers to the HTTPS receiver on 127.0.0.1 and a demo provider's id, then `settings`.
    Every service the demo serves no stand-in for goes to a closed port on 127.0.0.1 (the
    global AWS_ENDPOINT_URL): refused at once, never a request to AWS."""
    os.environ.update(
        {
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "RESPONSE_URL_ALLOWED_HOSTS": "127.0.0.1",
            "PROVIDER_ID": "arn:aws:cloudformation:us-east-1:123456789012:stack/demo-provider/1",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            **settings,
        }
    )
    os.environ.pop("AWS_PROFILE", None)
