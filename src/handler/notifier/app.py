"""The OnFailure destination of the provider function: answers FAILED for an invocation that
failed without answering (out of memory, a crash at start-up, the Lambda timeout), and removes
the poll that invocation may have left.

CloudFormation invokes the provider asynchronously; Lambda hands a failed invocation's
record ({"requestContext": {"condition", "requestId", "functionArn", ...}, "requestPayload":
<the event>, "responseContext": {"functionError"}, "responsePayload": {"errorMessage",
"errorType"}}, Lambda docs: "Retaining records of asynchronous invocations") to this separate
function. Its own failure goes nowhere (no destination, no retry): so it never raises.

One request, one physical id: after a Lambda timeout the provider's own timer has already
answered, naming the user a Create made (or echoing the request's id). The notifier names the
same: the user when it exists with this resource's ownership tags and was not taken over
(`ADOPTED_TAG`, written with them), else the impossible id; if it cannot tell (the lookup
failed), it adds no second answer to a timed-out request.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from cloudformation import admission
from cloudformation.outcomes import cut_short_id
from cloudformation.polling import remove_poll
from cloudformation.request import CRHELPER_POLL, CfnRequest, echoed_physical_id
from cloudformation.response import answer_failed
from cloudformation.work import on_failure_of
from elasticache.limits import ADOPTED_TAG
from elasticache.users import UserLifecycle
from rules.envelope import envelope_problem, is_user_id
from runtime.clients import bounded_by, elasticache_client
from runtime.config import Settings, allowed_hosts
from runtime.deadline import Deadline
from runtime.environment import SETTING
from runtime.log import SERVICE, logger, quiet_libraries
from runtime.metrics import NOTIFIER_ANSWERED
from runtime.scope import Scope

LOOKUP_SECONDS = 20.0
CLEANUP_SECONDS = 10.0

metrics = Metrics(namespace=SETTING["POWERTOOLS_METRICS_NAMESPACE"].text(), service=SERVICE)


class Made(enum.Enum):
    """Whether a failed Create made its user."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


def made_user(request: CfnRequest) -> Made:
    """Whether a user with the Create's UserId exists carrying this resource's ownership tags,
    and not the mark of a take-over: what the provider's own (timer) answer named, the user
    this request made. A user it took over was not made by it: a rollback must leave it."""
    user_id = str(request.properties.get("UserId", "")).lower()
    if not is_user_id(user_id):
        return Made.NO
    deadline = Deadline(LOOKUP_SECONDS)
    try:
        settings = Settings.from_environment()
        client = elasticache_client(os.environ.get("AWS_ENDPOINT_URL_ELASTICACHE"), settings.deadline_margin)
        lifecycle = UserLifecycle(client, settings.schedule)
        with bounded_by(deadline):
            user = lifecycle.settled(user_id, deadline)
            tags = lifecycle.tags_of(user, deadline) if user is not None else {}
            # A user taken over carries ADOPTED_TAG from the moment it carries the ownership tags.
            owned = user is not None and request.owner.describe_mismatch(tags) is None and ADOPTED_TAG not in tags
    except Exception as error:  # noqa: BLE001 - any failure of the lookup only means "cannot tell".
        logger.warning("could not check for a user the failed Create made", extra={"error": type(error).__name__})
        return Made.UNKNOWN
    return Made.YES if owned else Made.NO


def timed_out(record: Mapping[str, Any]) -> bool:
    """True when the invocation hit the Lambda timeout (the provider's timer answered first)."""
    response = record.get("responsePayload")
    response = response if isinstance(response, Mapping) else {}
    text = f"{response.get('errorType', '')} {response.get('errorMessage', '')}".lower()
    return "timedout" in text or "timed out" in text


def physical_id_for(request: CfnRequest, record: Mapping[str, Any]) -> str | None:
    """The physical id of the FAILED answer, or None when no answer should be added."""
    if request.is_poll:  # as the poll's work says: a take-over never names the user it adopted
        return cut_short_id(request.request_type, request.physical_id, on_failure_of(request.state.resume))
    if request.physical_id:
        return request.physical_id
    made = made_user(request)
    if made is Made.UNKNOWN and timed_out(record):
        logger.error(
            "the provider's timer answered this request; without knowing whether it made its user, "
            "no second answer is sent"
        )
        return None
    return str(request.properties.get("UserId", "")).lower() if made is Made.YES else request.not_created_id


def _notify(record: Mapping[str, Any], payload: Mapping[str, Any], own_arn: str) -> None:
    request = CfnRequest.from_event(payload, now=0.0, is_poll=CRHELPER_POLL in payload, scope=Scope.from_environment())
    # Anyone allowed to invoke the notifier could write a record: only a request CloudFormation
    # shows under way is answered, and only then is its poll removed.
    verdict = admission.confirm(request, own_arn, Settings.from_environment(), LOOKUP_SECONDS)
    if not verdict.confirmed and verdict.known:
        logger.error(
            "failure record refused: CloudFormation does not show its request under way",
            extra={"reason": verdict.reason},
        )
        return
    request_context = record.get("requestContext")
    request_context = request_context if isinstance(request_context, Mapping) else {}
    function = str(request_context.get("functionArn", "")).split(":")
    if len(function) >= 7 and verdict.confirmed:
        # Whatever the failed invocation left polling (or half made) must not invoke it again.
        # Its request's own poll, computed from the request (a half-made one is found too), never
        # one the record names.
        remove_poll(admission.poll_rule(request, function[6]), CLEANUP_SECONDS)
    physical_id = physical_id_for(request, record)
    if physical_id is None:
        return
    response = record.get("responsePayload")
    response = response if isinstance(response, Mapping) else {}
    context = record.get("responseContext")
    error = str(
        response.get("errorMessage") or (context if isinstance(context, Mapping) else {}).get("functionError") or ""
    )
    reason = (
        f"The provider function failed without answering ({request_context.get('condition', 'unknown')}: "
        f"{error[:80]}); see its logs for invocation {str(request_context.get('requestId', ''))[:40]}."
    )
    _count(answer_failed(payload, reason, physical_id, allowed_hosts=allowed_hosts()))


def _count(sent: bool) -> None:
    """Every answer the notifier had to give is a request the provider could not answer itself."""
    if sent:
        metrics.add_metric(name=NOTIFIER_ANSWERED, unit=MetricUnit.Count, value=1)


@metrics.log_metrics
def lambda_handler(record: Any, context: Any) -> None:
    """Answer FAILED for the request in a failed-invocation record; ignore anything else."""
    quiet_libraries()
    payload = record.get("requestPayload") if isinstance(record, Mapping) else None
    if envelope_problem(payload) is not None or not isinstance(payload, Mapping):
        logger.error("not a failed custom resource invocation record: ignored")
        return
    try:
        _notify(record, payload, str(getattr(context, "invoked_function_arn", "")))
    except Exception as error:  # noqa: BLE001 - nothing comes after this function: it must never raise.
        logger.exception("the failure notifier failed")
        reason = (
            "The provider function failed without answering, and so did its failure notifier "
            f"({type(error).__name__}); see their logs."
        )
        try:
            _count(answer_failed(payload, reason, echoed_physical_id(payload), allowed_hosts=allowed_hosts()))
        except Exception:  # noqa: BLE001
            logger.exception("the failure notifier could not answer")
