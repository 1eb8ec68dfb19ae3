"""The OnFailure destination of the provider function: answers FAILED for an invocation that
failed without answering (out of memory, a crash at start-up, the Lambda timeout).

CloudFormation invokes the provider asynchronously; Lambda hands a failed invocation's
record ({"requestContext": {"condition", "requestId", ...}, "requestPayload": <the event>,
"responseContext": {"functionError"}, "responsePayload": {"errorMessage"}}, Lambda docs:
"Retaining records of asynchronous invocations") to this separate function. Its own
failure goes nowhere (no destination, no retry), so it cannot start a loop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from clients import bounded_by, elasticache_client
from config import allowed_hosts
from deadline import Deadline, PollSchedule
from exceptions import DeadlineReached, UserOperationError
from log import logger, quiet_libraries
from properties import envelope_problem, is_user_id
from request import CfnRequest, Scope
from response import answer_failed
from users import UserLifecycle

LOOKUP_SECONDS = 20.0


def _made_user(request: CfnRequest) -> str | None:
    """The UserId a failed Create made, if a user with it exists and is owned by this resource:
    the same physical id the provider's own (timer) answer would have carried."""
    user_id = str(request.properties.get("UserId", "")).lower()
    if not is_user_id(user_id):
        return None
    deadline = Deadline(LOOKUP_SECONDS)
    lifecycle = UserLifecycle(elasticache_client(os.environ.get("AWS_ENDPOINT_URL_ELASTICACHE"), 10.0), PollSchedule())
    try:
        with bounded_by(deadline):
            user = lifecycle.settled(user_id, deadline)
            owned = user is not None and request.owner.describe_mismatch(lifecycle.tags_of(user, deadline)) is None
    except (UserOperationError, DeadlineReached) as error:
        logger.warning("could not check for a user the failed Create made", extra={"error": str(error)})
        return None
    return user_id if owned else None


def lambda_handler(record: Any, context: Any) -> None:
    """Answer FAILED for the request in a failed-invocation record; ignore anything else."""
    quiet_libraries()
    payload = record.get("requestPayload") if isinstance(record, Mapping) else None
    if envelope_problem(payload) is not None or not isinstance(payload, Mapping):
        logger.error("not a failed custom resource invocation record: ignored")
        return
    request = CfnRequest.from_event(payload, now=0.0, is_poll="CrHelperPoll" in payload, scope=Scope.from_environment())
    physical_id = request.physical_id or _made_user(request) or request.not_created_id
    request_context = record.get("requestContext") or {}
    response = record.get("responsePayload") if isinstance(record.get("responsePayload"), Mapping) else {}
    error = str(response.get("errorMessage") or (record.get("responseContext") or {}).get("functionError") or "")
    reason = (
        f"The provider function failed without answering ({request_context.get('condition', 'unknown')}: "
        f"{error[:80]}); see its logs for invocation {str(request_context.get('requestId', ''))[:40]}."
    )
    answer_failed(payload, reason, physical_id, allowed_hosts=allowed_hosts())
