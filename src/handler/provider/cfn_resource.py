"""Custom::ElastiCacheUser on top of crhelper: the only module that knows crhelper.

crhelper speaks the protocol (answer body, physical id echo, poll hand-over through an
EventBridge rule); `handlers.py` decides what to do. This adapter gates requests on their
ResponseURL, maps each outcome to crhelper's fields, keeps one answer per request, and
fixes crhelper's traps (docs/aws-behaviour.md, crhelper).

crhelper internals we rely on (checked against crhelper 2.0.12):

| name | why |
|---|---|
| `__call__`, `_crhelper_init`, `_polling_init` | the flow: run our function, hand over / remove polling / answer |
| `_timeout` (its timer) | answers FAILED 0.5 s before the deadline; `_send` names the claimed user |
| `_send` (overridden) | one answer per request; the claimed physical id; bounded delivery |
| `_poll_enabled` (overridden) | hand over only after Pending (crhelper: every request) |
| `_setup_polling`, `_remove_polling` (overridden) | done by `polling.py`: every answer checked, safe order |
| `_event`, `_context`, `_region`, `_sam_local`, `Status`, `Reason`, `Data`, `PhysicalResourceId` | its state |
"""

from __future__ import annotations

import enum
import json
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crhelper import CfnResource

from cloudformation import admission, outcomes, records
from cloudformation.request import (
    CRHELPER_DATA,
    CRHELPER_PERMISSION,
    CRHELPER_POLL,
    CRHELPER_RULE,
    POLL_STATE,
    RULE_NAME_MAX,
    TARGET_INPUT_MAX,
    CfnRequest,
    PollState,
    echoed_physical_id,
)
from cloudformation.response import answer_failed, is_allowed_response_url, put_response, response_host, shorten_reason
from cloudformation.work import on_failure_of
from elasticache.groups import GroupMembership
from elasticache.users import UserLifecycle
from provider import handlers
from rules.envelope import envelope_problem
from runtime.clients import bounded_by, elasticache_client
from runtime.config import Settings
from runtime.deadline import Deadline
from runtime.exceptions import DeadlineReached, HandOverError
from runtime.log import logger, quiet_libraries

if TYPE_CHECKING:
    from cloudformation.polling import Polling  # the hand-over's: imported by the first one, not by every cold start

FAILED = "FAILED"
# What a poll needs of the request; never ResourceProperties (passwords, and up to 47 tags of
# 384 characters would overflow the target Input).
CARRIED_KEYS = ("RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId", "ResourceType")
RULE_ARN_MAX = 160  # arn:<partition>:events:<region>:<12 digits>:rule/<64>, with room to spare


class Result(enum.Enum):
    """What one invocation ended in (the metric's name)."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    HANDED_OVER = "HandedOver"
    IGNORED = "Ignored"
    REFUSED = "Refused"


@dataclass
class Invocation:
    """The state of one invocation: reset by each `handle`."""

    started: float = field(default_factory=time.time)
    claim: outcomes.Claim = field(default_factory=outcomes.Claim)
    result: Result = Result.FAILED
    pending: tuple[CfnRequest, outcomes.Pending] | None = None
    answered: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    request: CfnRequest | None = None  # as CloudFormation confirmed it (admission.py)


class UserResource(CfnResource):
    """The Custom::ElastiCacheUser resource: one instance serves every invocation."""

    _event: dict[str, Any]
    _context: Any
    _region: str | None
    _sam_local: str | None

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

    def _polling(self) -> Polling:
        from cloudformation.polling import Polling

        # Attempts fitted to a quarter of the margin: making and undoing a hand-over get one each.
        return Polling.bounded(self.settings.deadline_margin / 4)

    def _protocol_deadline(self, share: float = 0.5) -> Deadline:
        """For hand-over and clean-up calls: the margin's last half stays for the answer itself."""
        return Deadline(self._context.get_remaining_time_in_millis() / 1000 - self.settings.deadline_margin * share)

    def handle(self, event: Any, context: Any) -> Result:
        """Answer one CloudFormation request (or one poll re-invocation)."""
        self._invocation = invocation = Invocation()
        url = event.get("ResponseURL") if isinstance(event, Mapping) else None
        if not is_allowed_response_url(url, self.settings.response_url_allowed_hosts):
            # Not from CloudFormation (or misconfigured): act on nothing, since nobody could be told.
            logger.error("request ignored: ResponseURL not https on allowed host", extra={"host": response_host(url)})
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
            invocation.request = admission.admit(event, context, self.settings)
            if invocation.request is None:
                return Result.REFUSED  # CloudFormation does not show it under way: nothing is done
            self(event, context)
            return invocation.result
        # crhelper cannot parse it: answer FAILED, echoing what the request has.
        logger.error("malformed request", extra={"reason": problem})
        answer_failed(event, problem, echoed_physical_id(event), allowed_hosts=self.settings.response_url_allowed_hosts)
        return Result.FAILED

    def _act(self, event: dict[str, Any], context: Any) -> str | None:
        """crhelper's create/update/delete/poll function: run the action, map its outcome."""
        invocation = self._invocation
        request = invocation.request or admission.request_of(event, self.settings)
        seconds, final = request.work_seconds(
            context.get_remaining_time_in_millis() / 1000, self.settings.deadline_margin, self.settings.poll_window
        )
        # The undo budget comes out of the work's time, not out of the margin kept for the answer.
        reserve = min(self.settings.undo_seconds, seconds / 3)
        deadline, cleanup = Deadline(seconds - reserve), Deadline(seconds)
        endpoint = os.environ.get("AWS_ENDPOINT_URL_ELASTICACHE")
        client = self._pinned_client or elasticache_client(endpoint, self.settings.deadline_margin)
        grace, schedule = self.settings.read_after_write_seconds, self.settings.schedule
        action_context = outcomes.ActionContext(
            UserLifecycle(client, schedule, grace, request.owner, request.protected_id),
            GroupMembership(
                client, schedule, grace, request.stack_name if self.settings.scope.require_group_consent else None
            ),
            deadline,
            invocation.claim,
            cleanup,
            request.state.timeout if final else None,
        )
        with bounded_by(deadline):
            outcome = handlers.outcome_of(request, action_context)
        if isinstance(outcome, outcomes.Pending):
            outcome = self._hand_over(request, outcome)
        records.after(request, outcome, cleanup.remaining())  # for drift; in the work's time, never fails
        if isinstance(outcome, outcomes.Pending):
            # crhelper sends nothing for a poll that returns None, and hands a request over.
            return None if request.is_poll else outcome.physical_id
        if isinstance(outcome, outcomes.Failed):
            logger.error("request failed", extra={"reason": outcome.reason})
        self.Status, self.Reason, self.Data, physical_id = outcomes.answer_fields(outcome)
        return physical_id

    def _hand_over(self, request: CfnRequest, pending: outcomes.Pending) -> outcomes.Outcome:
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
            answer = outcomes.cut_short_id(request.request_type, user, on_failure_of(pending.resume))
            return outcomes.Failed(f"User '{user}' is still changing at the invocation deadline, {why}", answer)
        logger.info("still in progress at the deadline: handing over to poll re-invocations")
        # Its clients built now, in the undo reserve: not in the margin's quarter that makes the poll.
        self._polling()
        invocation.pending = (request, pending)
        invocation.result = Result.HANDED_OVER
        if request.is_poll and pending.resume != state.resume:
            self._record_progress(request, pending)
        return pending

    def _poll_event(self, request: CfnRequest, pending: outcomes.Pending, rule_arn: str, name: str) -> dict[str, Any]:
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

    def _record_progress(self, request: CfnRequest, pending: outcomes.Pending) -> None:
        """A poll that got further rewrites the rule's Input, so that the next poll does not
        repeat a ModifyUser that was accepted (each would start another modification)."""
        from cloudformation.polling import rule_arn_for

        name = request.poll_rule_name  # never the event's: an edited poll could name another request's rule
        rule_arn = rule_arn_for(self._context.invoked_function_arn, name)
        self._event = self._poll_event(request, pending, rule_arn, name)
        deadline = self._protocol_deadline()
        try:
            with bounded_by(deadline):
                self._polling().put_input(rule_arn, self._context.function_name, json.dumps(self._event), deadline)
        except Exception as error:  # noqa: BLE001 - the next poll then repeats work; it must still run.
            logger.warning("poll progress not recorded", extra={"error": f"{type(error).__name__}: {error}"})

    # crhelper hooks ------------------------------------------------------------------------

    def _poll_enabled(self) -> bool:
        return CRHELPER_POLL in self._event or self._invocation.pending is not None

    def _setup_polling(self) -> None:
        from cloudformation.polling import PollRule, PollSetupError

        invocation = self._invocation
        if invocation.pending is None:
            raise HandOverError("Internal error: a hand-over without pending work; see the function's logs.")
        request, pending = invocation.pending
        name = request.poll_rule_name
        rule = PollRule(name, self._context.function_name, name)
        # A quarter of the margin to make it, the next quarter to undo it, the last half to answer.
        deadline, undo = self._protocol_deadline(0.75), self._protocol_deadline(0.5)

        def input_for(rule_arn: str) -> str:
            self._event = self._poll_event(request, pending, rule_arn, name)
            return json.dumps(self._event)

        try:
            with bounded_by(deadline):
                self._polling().set_up(
                    rule, self.settings.poll_interval_minutes, input_for, self._commit, deadline, undo
                )
        except PollSetupError as error:
            with invocation.lock:
                invocation.answered = False  # nobody polls: this invocation answers FAILED itself
            on_failure = on_failure_of(pending.resume)
            self.PhysicalResourceId = outcomes.cut_short_id(request.request_type, pending.physical_id, on_failure)
            raise HandOverError(
                f"User '{pending.physical_id}' is still changing at the invocation deadline, and the hand-over "
                f"to polling could not be set up ({error}). Check the provider's EventBridge and Lambda "
                "permissions, then retry."
            ) from error

    def _commit(self) -> bool:
        """Hand the answer to the poll, unless one went out meanwhile (crhelper's timer)."""
        invocation = self._invocation
        with invocation.lock:
            if invocation.answered:
                return False
            invocation.answered = True
            return True

    def _remove_polling(self) -> None:
        # The request's own rule, computed from it: never a rule the (editable) poll event names.
        rule = admission.poll_rule(admission.request_of(self._event, self.settings), self._context.function_name)
        deadline = self._protocol_deadline()
        try:
            with bounded_by(deadline):
                self._polling().remove(rule, deadline)
        except DeadlineReached:
            logger.error("poll not removed before the deadline: a later poll retries")

    def _send(self, status: str | None = None, reason: str = "", send_response: Any = None) -> None:
        invocation = self._invocation
        with invocation.lock:
            if invocation.answered:
                # crhelper's timeout timer and the handler can both try to answer.
                logger.warning("second answer for one request suppressed", extra={"status": status or self.Status})
                return
            invocation.answered = True
        if not self.PhysicalResourceId:
            self.PhysicalResourceId = self._timer_physical_id()
        self.Data.pop("PhysicalResourceId", None)  # crhelper's poll bookkeeping, not an attribute
        self.Reason = shorten_reason(str(self.Reason))
        invocation.result = Result.FAILED if FAILED in (status, self.Status) else Result.SUCCEEDED
        super()._send(status, shorten_reason(reason), send_response=self._put)  # type: ignore[misc]

    def _timer_physical_id(self) -> str:
        """The id of crhelper's timer answer, sent while the action runs: a Create names the
        user it made (its rollback deletes it), an Update or Delete echoes its own id; a poll
        answers as its work's OnFailure says (a take-over never names the user it adopted)."""
        request_type = str(self._event.get("RequestType", ""))
        if CRHELPER_POLL in self._event:
            on_failure = on_failure_of(PollState.read(self._event.get(POLL_STATE), 0.0, 0.0).resume)
            return outcomes.cut_short_id(request_type, echoed_physical_id(self._event), on_failure)
        made = self._invocation.claim.user_id if request_type == "Create" else None
        return made or echoed_physical_id(self._event)

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
