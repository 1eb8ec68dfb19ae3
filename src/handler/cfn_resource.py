"""Custom::ElastiCacheUser on top of crhelper: the only module that knows crhelper.

crhelper speaks the protocol (answer body, physical id echo, poll hand-over through an
EventBridge rule); `handlers.py` decides what to do. This adapter gates requests on their
ResponseURL, maps each outcome to crhelper's fields, keeps one answer per request, and
fixes crhelper's traps (shared/field-notes.md).

crhelper internals we rely on (checked against crhelper 2.0.12):

| name | why |
|---|---|
| `__call__`, `_crhelper_init`, `_polling_init` | the flow: run our function, hand over / remove polling / answer |
| `_timeout` (its timer) | answers FAILED 0.5 s before the deadline; `_send` names the claimed user |
| `_send` (overridden) | one answer per request; the claimed physical id; bounded delivery |
| `_poll_enabled` (overridden) | hand over only after Pending (crhelper: every request) |
| `_setup_polling` (overridden) | rule name <= 64 chars, target Input <= 8192, no half-made hand-over |
| `_remove_polling` (overridden) | a rule already removed (late or duplicated poll) is no failure |
| `_put_targets` | reused: writes `self._event` as the rule's target Input |
| `_lambda_client`, `_events_client` | built on first use (crhelper builds them at start-up) |
| `_event`, `_context`, `_region`, `_sam_local`, `Status`, `Reason`, `Data`, `PhysicalResourceId` | its state |
"""

from __future__ import annotations

import enum
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError
from crhelper import CfnResource
from groups import GroupMembership

import handlers
from clients import bounded_by, elasticache_client
from config import Settings
from deadline import Deadline
from exceptions import error_code
from log import logger, quiet_libraries
from properties import envelope_problem
from request import POLL_STATE, CfnRequest, PollState, echoed_physical_id
from response import answer_failed, is_allowed_response_url, put_response, response_host, shorten_reason
from users import UserLifecycle

FAILED = "FAILED"
# Event keys crhelper writes into the poll event and reads back.
CRHELPER_POLL = "CrHelperPoll"
CRHELPER_DATA = "CrHelperData"
CRHELPER_RULE = "CrHelperRule"
CRHELPER_PERMISSION = "CrHelperPermission"
# What a poll needs of the request; never ResourceProperties (passwords, and up to 47 tags of
# 384 characters would overflow the target Input).
CARRIED_KEYS = ("RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId", "ResourceType")
RULE_NAME_MAX = 64  # EventBridge rule names (crhelper issue #61: LogicalResourceId + 8 overflows)
TARGET_INPUT_MAX = 8192  # EventBridge PutTargets Input
RULE_ARN_MAX = 160  # arn:<partition>:events:<region>:<12 digits>:rule/<64>, with room to spare


class Result(enum.Enum):
    """What one invocation ended in (the metric's name)."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    HANDED_OVER = "HandedOver"
    IGNORED = "Ignored"


class HandOverError(Exception):
    """The poll could not be set up; the message is the FAILED answer's reason."""


@dataclass
class Invocation:
    """The state of one invocation: reset by each `handle`."""

    started: float = field(default_factory=time.time)
    claim: handlers.Claim = field(default_factory=handlers.Claim)
    result: Result = Result.FAILED
    pending: tuple[CfnRequest, handlers.Pending] | None = None
    answered: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def answer_fields(outcome: handlers.Done | handlers.Failed) -> tuple[str, str, dict[str, str], str]:
    """crhelper's Status, Reason, Data and the physical id, for a final outcome."""
    if isinstance(outcome, handlers.Failed):
        return FAILED, outcome.reason, {}, outcome.physical_id
    return "SUCCESS", "", dict(outcome.data), outcome.physical_id


class UserResource(CfnResource):
    """The Custom::ElastiCacheUser resource: one instance serves every invocation."""

    _event: dict[str, Any]
    _context: Any
    _region: str | None
    _sam_local: str | None
    _put_targets: Callable[[str], None]

    def __init__(self, settings: Settings, client: Any = None) -> None:
        """`client` pins an ElastiCache client (e.g. one per simulated container); by default
        a cached one per AWS_ENDPOINT_URL_ELASTICACHE is used."""
        # Under AWS_SAM_LOCAL crhelper builds no lambda/events/logs clients: measured 1.20x ->
        # 1.05x cold start, and only a hand-over uses them (built on first use below).
        sam_local = os.environ.get("AWS_SAM_LOCAL")
        os.environ["AWS_SAM_LOCAL"] = "true"
        try:
            super().__init__(log_level="WARNING", boto_level="WARNING", sleep_on_delete=0)
        finally:
            if sam_local is None:
                del os.environ["AWS_SAM_LOCAL"]
            else:
                os.environ["AWS_SAM_LOCAL"] = sam_local
        self._sam_local = sam_local
        quiet_libraries()
        self.settings = settings
        self._pinned_client = client
        self._invocation = Invocation()
        for register in (self.create, self.update, self.delete, self.poll_create, self.poll_update, self.poll_delete):
            register(self._act)

    @functools.cached_property
    def _lambda_client(self) -> Any:
        return boto3.client("lambda", region_name=self._region)

    @functools.cached_property
    def _events_client(self) -> Any:
        return boto3.client("events", region_name=self._region)

    def handle(self, event: Any, context: Any) -> Result:
        """Answer one CloudFormation request (or one poll re-invocation)."""
        self._invocation = invocation = Invocation()
        url = event.get("ResponseURL") if isinstance(event, Mapping) else None
        if not is_allowed_response_url(url, self.settings.response_url_allowed_hosts):
            # Not from CloudFormation (or misconfigured): act on nothing, since nobody could be told.
            logger.error(
                "request ignored: ResponseURL is missing or not https on an allowed host",
                extra={"host": response_host(url)},
            )
            return Result.IGNORED
        logger.append_keys(
            stack_id=str(event.get("StackId", ""))[:300],
            request_id=str(event.get("RequestId", ""))[:100],
            logical_resource_id=str(event.get("LogicalResourceId", ""))[:300],
            request_type=str(event.get("RequestType", ""))[:20],
            physical_resource_id=str(event.get("PhysicalResourceId", ""))[:300],
        )
        problem = envelope_problem(event)
        if problem is None:
            self(event, context)
            return invocation.result
        # crhelper cannot parse it: answer FAILED, echoing what the request has.
        logger.error("malformed request", extra={"reason": problem})
        answer_failed(event, problem, echoed_physical_id(event), allowed_hosts=self.settings.response_url_allowed_hosts)
        return Result.FAILED

    def _act(self, event: dict[str, Any], context: Any) -> str | None:
        """crhelper's create/update/delete/poll function: run the action, map its outcome."""
        invocation = self._invocation
        request = CfnRequest.from_event(
            event, now=invocation.started, is_poll=CRHELPER_POLL in event, scope=self.settings.scope
        )
        seconds = context.get_remaining_time_in_millis() / 1000 - self.settings.deadline_margin
        if request.is_poll:
            # A poll must end before EventBridge starts the next one, or two could answer.
            seconds = min(seconds, self.settings.poll_window)
        deadline = Deadline(seconds)
        client = self._pinned_client or elasticache_client(
            os.environ.get("AWS_ENDPOINT_URL_ELASTICACHE"), self.settings.deadline_margin
        )
        lifecycle = UserLifecycle(client, self.settings.schedule)
        env = handlers.Env(lifecycle, GroupMembership(client, self.settings.schedule), deadline, invocation.claim)
        with bounded_by(deadline):
            outcome = handlers.handle(request, env)
        if isinstance(outcome, handlers.Pending):
            outcome = self._hand_over(request, outcome)
        if isinstance(outcome, handlers.Pending):
            # crhelper sends nothing for a poll that returns None, and hands a request over.
            return None if request.is_poll else outcome.physical_id
        if isinstance(outcome, handlers.Failed):
            logger.error("request failed", extra={"reason": outcome.reason})
        self.Status, self.Reason, self.Data, physical_id = answer_fields(outcome)
        return physical_id

    def _hand_over(self, request: CfnRequest, pending: handlers.Pending) -> handlers.Outcome:
        """Leave the rest to poll re-invocations, or say why that cannot be."""
        invocation = self._invocation
        if invocation.answered:
            # crhelper's timer has answered already: a poll would answer a second time.
            return pending
        state, user = request.state, pending.physical_id
        elapsed = time.time() - state.since
        size = len(json.dumps(self._poll_event(request, pending, "r" * RULE_ARN_MAX, "n" * RULE_NAME_MAX)))
        why = ""
        if self._sam_local:
            why = "and a local run (AWS_SAM_LOCAL) cannot hand over to a poll. Raise the function timeout."
        elif elapsed >= state.timeout:
            # crhelper would poll for ever (its issue #5): CloudFormation has stopped waiting.
            why = (
                f"{elapsed / 60:.0f} min after the request, past the resource's ServiceTimeout "
                f"({state.timeout:.0f} s), so CloudFormation no longer waits for it. Check the user in ElastiCache."
            )
        elif size > TARGET_INPUT_MAX:
            why = (
                f"and what is left to do is too large to hand over to a poll ({size} of {TARGET_INPUT_MAX} "
                "characters). Retry the stack operation."
            )
        if why:
            return handlers.Failed(f"User '{user}' is still changing at the invocation deadline, {why}", user)
        logger.info("still in progress at the deadline: handing over to poll re-invocations")
        invocation.pending = (request, pending)
        invocation.result = Result.HANDED_OVER
        if request.is_poll and dict(pending.resume) != dict(state.resume):
            self._record_progress(request, pending)
        return pending

    def _poll_event(self, request: CfnRequest, pending: handlers.Pending, rule_arn: str, name: str) -> dict[str, Any]:
        """The event each poll receives: the envelope and the PollState, nothing else."""
        event = {key: self._event[key] for key in CARRIED_KEYS if key in self._event}
        event.update(
            {
                "PhysicalResourceId": pending.physical_id,
                CRHELPER_POLL: True,
                CRHELPER_DATA: {},
                CRHELPER_RULE: rule_arn,
                CRHELPER_PERMISSION: name,
                POLL_STATE: PollState(request.state.since, request.state.timeout, pending.resume).as_json(),
            }
        )
        return event

    def _record_progress(self, request: CfnRequest, pending: handlers.Pending) -> None:
        """A poll that got further rewrites the rule's Input, so that the next poll does not
        repeat a ModifyUser that was accepted (each would start another modification)."""
        self._event = self._poll_event(request, pending, self._event[CRHELPER_RULE], self._event[CRHELPER_PERMISSION])
        try:
            self._put_targets(self._context.function_name)
        except Exception as error:  # noqa: BLE001 - the next poll then repeats work; it must still run.
            logger.warning("poll progress not recorded", extra={"error": f"{type(error).__name__}: {error}"})

    # crhelper hooks ------------------------------------------------------------------------

    def _poll_enabled(self) -> bool:
        return CRHELPER_POLL in self._event or self._invocation.pending is not None

    def _setup_polling(self) -> None:
        if self._invocation.pending is None:
            raise HandOverError("Internal error: a hand-over without pending work; see the function's logs.")
        request, pending = self._invocation.pending
        name = request.poll_rule_name
        undo: list[tuple[str, Callable[[], object]]] = []
        try:
            arn = self._events_client.put_rule(
                Name=name,
                ScheduleExpression=f"rate({self.settings.poll_interval_minutes} "
                f"minute{'s' if self.settings.poll_interval_minutes != 1 else ''})",
                State="ENABLED",
            )["RuleArn"]
            undo.append(("DeleteRule", lambda: self._events_client.delete_rule(Name=name)))
            self._add_permission_once(name, arn, undo)
            self._event = self._poll_event(request, pending, arn, name)
            self._put_targets(self._context.function_name)
        except Exception as error:
            logger.exception("hand-over to polling failed; removing what it made")
            for step, action in reversed(undo):
                self._quietly(step, action)
            raise HandOverError(
                f"User '{pending.physical_id}' is still changing at the invocation deadline, and the hand-over "
                f"to polling could not be set up ({type(error).__name__}). Check the provider's EventBridge "
                "and Lambda permissions, then retry."
            ) from error

    def _add_permission_once(self, name: str, arn: str, undo: list[tuple[str, Callable[[], object]]]) -> None:
        function = self._context.function_name
        try:
            self._lambda_client.add_permission(
                FunctionName=function,
                StatementId=name,
                Action="lambda:InvokeFunction",
                Principal="events.amazonaws.com",
                SourceArn=arn,
            )
        except ClientError as error:
            # A duplicate delivery of this request handed over first: its permission serves both.
            if error_code(error) != "ResourceConflictException":
                raise
            return
        undo.append(
            ("RemovePermission", lambda: self._lambda_client.remove_permission(FunctionName=function, StatementId=name))
        )

    def _remove_polling(self) -> None:
        rule, permission = self._event.get(CRHELPER_RULE), self._event.get(CRHELPER_PERMISSION)
        if not isinstance(rule, str) or not isinstance(permission, str):
            logger.error("poll without its rule: nothing to remove")
            return
        name, function = rule.split("/")[-1], self._context.function_name
        self._quietly("RemoveTargets", lambda: self._events_client.remove_targets(Rule=name, Ids=["1"]))
        self._quietly(
            "RemovePermission",
            lambda: self._lambda_client.remove_permission(FunctionName=function, StatementId=permission),
        )
        self._quietly("DeleteRule", lambda: self._events_client.delete_rule(Name=name))

    @staticmethod
    def _quietly(step: str, action: Callable[[], object]) -> None:
        """Run one clean-up step; a resource already gone is fine, any other error is logged."""
        try:
            action()
        except Exception as error:  # noqa: BLE001 - the answer must go out whatever the clean-up does.
            if isinstance(error, ClientError) and error_code(error) == "ResourceNotFoundException":
                logger.info("already removed", extra={"step": step})
            else:
                logger.error("clean-up step failed", extra={"step": step, "error": f"{type(error).__name__}"})

    def _send(self, status: str | None = None, reason: str = "", send_response: Any = None) -> None:
        invocation = self._invocation
        with invocation.lock:
            if invocation.answered:
                # crhelper's timeout timer and the handler can both try to answer.
                logger.warning("second answer for one request suppressed", extra={"status": status or self.Status})
                return
            invocation.answered = True
        if not self.PhysicalResourceId:
            # The timer's answer, sent while the action runs: name the user it made, if any.
            self.PhysicalResourceId = invocation.claim.user_id or echoed_physical_id(self._event)
        self.Data.pop("PhysicalResourceId", None)  # crhelper's poll bookkeeping, not an attribute
        self.Reason = shorten_reason(str(self.Reason))
        invocation.result = Result.FAILED if FAILED in (status, self.Status) else Result.SUCCEEDED
        super()._send(status, shorten_reason(reason), send_response=self._put)  # type: ignore[misc]

    def _put(self, url: str, body: Mapping[str, Any], _ssl_verify: object) -> None:
        put_response(
            url,
            body,
            allowed_hosts=self.settings.response_url_allowed_hosts,
            attempts=self.settings.response_attempts,
            timeout=self.settings.response_timeout,
            # Up to just before the deadline: crhelper's timer answers only 0.5 s before it.
            time_left=lambda: self._context.get_remaining_time_in_millis() / 1000 - 0.2,
        )
