"""A Lambda context object with a real deadline, as the Lambda runtime passes one."""

from __future__ import annotations

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
