"""Where a request enters: confirmed with CloudFormation before any action (provenance.py),
and what becomes of a request CloudFormation does not show.

A refused request changes nothing. It is logged, counted (`RequestsRefused`), and answered
FAILED only when it is a request CloudFormation waits for on its own ResponseURL (checked
before anything else, `response.is_allowed_response_url`): a forged one then reaches
CloudFormation only, which knows no such request. A refused poll sends nothing (CloudFormation
is not waiting for it) and removes its own poll rule, whose name is computed from the request,
never read from the event, so that an edited poll cannot remove another request's rule.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cloudformation.provenance import Confirmation, Verdict
from cloudformation.request import CRHELPER_POLL, CfnRequest, echoed_physical_id
from cloudformation.response import answer_failed
from runtime.clients import aws_client, bounded_by
from runtime.config import Settings
from runtime.deadline import Deadline
from runtime.log import logger

if TYPE_CHECKING:
    from cloudformation.polling import PollRule

# Seconds a refused poll may spend removing its rule.
REMOVE_SECONDS = 10.0


def request_of(event: Mapping[str, Any], settings: Settings) -> CfnRequest:
    """The typed request of a well-formed event (`properties.envelope_problem` is None)."""
    return CfnRequest.from_event(event, now=time.time(), is_poll=CRHELPER_POLL in event, scope=settings.scope)


def confirm(request: CfnRequest, function_arn: str, settings: Settings, seconds: float) -> Verdict:
    """Ask CloudFormation whether `request` is under way, within `seconds` (the calls) and
    CONFIRM_LAG_SECONDS (reading again a status that does not match yet)."""
    deadline = Deadline(seconds)
    lag = Deadline(max(0.0, min(settings.confirm_lag, seconds)))
    try:
        with bounded_by(deadline):
            client = aws_client("cloudformation", settings.deadline_margin)
            verdict = Confirmation(client, settings.schedule).confirm(request, function_arn, lag)
    except Exception as error:  # noqa: BLE001 - an unknown verdict refuses; it must not crash the handler.
        logger.exception("the request could not be confirmed")
        verdict = Verdict(False, f"CloudFormation could not be asked ({type(error).__name__}).", known=False)
    if verdict.confirmed:
        logger.debug("request confirmed by CloudFormation", extra={"shown_id": verdict.shown_id})
    return verdict


def admit(event: Mapping[str, Any], context: Any, settings: Settings) -> CfnRequest | None:
    """The request of a well-formed event once CloudFormation confirmed it (with the physical
    id CloudFormation shows for the resource), or None once it has been refused."""
    request = request_of(event, settings)
    seconds = context.get_remaining_time_in_millis() / 1000 - settings.deadline_margin
    verdict = confirm(request, context.invoked_function_arn, settings, seconds)
    if verdict.confirmed:
        return request._replace(shown_id=verdict.shown_id, state=request.state.sent(verdict.sent_at))
    refuse(event, request, verdict, context.function_name, settings)
    return None


def poll_rule(request: CfnRequest, function: str) -> PollRule:
    """The request's own poll rule and permission statement (deterministic names)."""
    from cloudformation.polling import PollRule  # polls and hand-overs only: not on a cold start's path

    return PollRule(request.poll_rule_name, function, request.poll_rule_name)


def refuse(event: Mapping[str, Any], request: CfnRequest, verdict: Verdict, function: str, settings: Settings) -> bool:
    """Act on nothing; answer FAILED unless the request is a poll. True if an answer went out."""
    logger.error(
        "request refused: CloudFormation does not show it under way; nothing was changed",
        extra={"reason": verdict.reason, "poll": request.is_poll, "known": verdict.known},
    )
    if request.is_poll:
        from cloudformation.polling import remove_poll

        if verdict.known:
            # Its request is over (or never was): nobody waits for this poll, stop it.
            remove_poll(poll_rule(request, function), REMOVE_SECONDS, settings.deadline_margin)
        return False
    what = (
        "Check that the provider's role may call cloudformation:DescribeStackResource and DescribeStacks, then retry."
        if not verdict.known
        else "Only requests CloudFormation sends for a stack operation under way are served."
    )
    reason = f"Request not confirmed, nothing was changed: {verdict.reason} {what}"
    return answer_failed(event, reason, echoed_physical_id(event), allowed_hosts=settings.response_url_allowed_hosts)
