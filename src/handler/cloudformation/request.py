"""The typed request: everything a handler needs from a CloudFormation event, read once.

Handlers never index the raw event. A poll re-invocation carries no ResourceProperties (they
can hold passwords and exceed EventBridge's 8192-character target Input); it carries the
PollState the hand-over wrote instead.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from cloudformation import work
from cloudformation.work import PollWork
from elasticache.limits import SERVICE_TIMEOUT_MAX
from elasticache.user_spec import Ownership
from rules.envelope import owner_tags
from runtime.scope import Scope

DEFAULT_SERVICE_TIMEOUT = float(SERVICE_TIMEOUT_MAX)
# Key of the event crhelper stores for polls under which the hand-over keeps its state.
POLL_STATE = "ElastiCacheUserPoll"
# Event keys crhelper writes into the poll event and reads back.
CRHELPER_POLL = "CrHelperPoll"
CRHELPER_DATA = "CrHelperData"
CRHELPER_RULE = "CrHelperRule"
CRHELPER_PERMISSION = "CrHelperPermission"
# EventBridge's limits on what a hand-over makes (API reference: PutRule Name, PutTargets
# Input); crhelper's own rule name, LogicalResourceId + 8 characters, overflows the first
# (crhelper issue #61).
RULE_NAME_MAX = 64
TARGET_INPUT_MAX = 8192
# Hex digits of the request's digest in a rule name: what keeps two requests' rules apart.
RULE_DIGEST = 16
# Every poll rule's name starts with it: the IAM policy lets the provider and the notifier
# make and remove only `rule/<RULE_PREFIX>*` (template.yaml), never another rule of the account.
RULE_PREFIX = "ecuser-poll-"


def service_timeout(properties: object) -> float:
    """The resource's ServiceTimeout in seconds (CloudFormation's default: 3600)."""
    value = properties.get("ServiceTimeout") if isinstance(properties, Mapping) else None
    try:
        seconds = float(str(value))
    except ValueError:
        return DEFAULT_SERVICE_TIMEOUT
    return seconds if 1 <= seconds <= DEFAULT_SERVICE_TIMEOUT else DEFAULT_SERVICE_TIMEOUT


def _number(value: object, default: float) -> float:
    """A finite number from a poll's state, else `default` (a 400-digit int overflows a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    try:
        number = float(value)
    except OverflowError:
        return default
    return number if math.isfinite(number) else default


def stack_name(stack_id: str) -> str:
    """The name in a stack's id (arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>),
    unique per Region; an id of another form, its last ':'-separated part."""
    parts = stack_id.split("/")
    return parts[1] if len(parts) >= 3 else stack_id.rsplit(":", 1)[-1]


def not_created_id(logical_id: str, request_id: str) -> str:
    """The physical id of a Create that made nothing. The underscore makes it an impossible
    UserId, so the rollback Delete that follows deletes nothing."""
    return f"not-created_{logical_id[:200]}_{request_id[:40]}"


def echoed_physical_id(event: Mapping[str, Any]) -> str:
    """The physical id an answer to `event` carries when no action chose one: the request's
    own, or for a Create the id that names nothing."""
    physical_id = event.get("PhysicalResourceId")
    if isinstance(physical_id, str) and physical_id:
        return physical_id
    return not_created_id(str(event.get("LogicalResourceId", "")), str(event.get("RequestId", "")))


class PollState(NamedTuple):
    """What crosses a hand-over: when CloudFormation sent the request (or, if it does not show
    that, when the provider first saw it), how long CloudFormation waits for it, and what is
    left to do (handler-specific, JSON, never a password).
    `problem`: why the state is not one the provider writes ('' when it is): such a poll is
    refused whole (handlers.py), as anyone who may invoke the provider may edit its state."""

    since: float
    timeout: float
    resume: PollWork | None = None
    problem: str = ""

    def sent(self, at: float | None) -> PollState:
        """The state with the request's start at `at`, when CloudFormation sent it (None: it
        does not show it), if that is earlier: never later, so no time is ever added."""
        return self if at is None or at >= self.since else self._replace(since=at)

    def as_json(self) -> dict[str, Any]:
        return {"since": self.since, "timeout": self.timeout, "resume": work.as_json(self.resume)}

    @classmethod
    def read(cls, value: object, now: float, timeout: float) -> PollState:
        """The state a poll carries; anything unreadable falls back to `now` and `timeout`."""
        state = value if isinstance(value, Mapping) else {}
        since, limit = state.get("since"), state.get("timeout")
        try:
            resume, problem = work.from_json(state.get("resume")), ""
        except work.PollStateError as error:
            resume, problem = None, str(error)
        return cls(
            # Never later than now, never more than CloudFormation's longest ServiceTimeout: an
            # edited state gains no time (admission.py moves `since` earlier, to when it was sent).
            since=min(_number(since, now), now),
            timeout=min(max(_number(limit, timeout), 1.0), DEFAULT_SERVICE_TIMEOUT),
            resume=resume,
            problem=problem,
        )


class CfnRequest(NamedTuple):
    """One Create, Update or Delete request (or a poll re-invocation of one)."""

    request_type: str
    stack_id: str
    logical_id: str
    request_id: str
    physical_id: str
    properties: Mapping[str, Any]
    old_properties: Mapping[str, Any] | None
    is_poll: bool
    state: PollState
    scope: Scope = Scope()
    # The event's ResourceType, which CloudFormation must show for the resource (provenance.py).
    resource_type: str = ""
    # The physical id CloudFormation shows for the resource once the request is confirmed
    # ('' while it has none, or unconfirmed): a failed request's clean-up never deletes it.
    shown_id: str = ""

    def __repr__(self) -> str:
        # Never the properties: they may hold passwords.
        return (
            f"CfnRequest({self.request_type} {self.logical_id} {self.physical_id!r} of {self.stack_id}"
            f"{', a poll' if self.is_poll else ''})"
        )

    @classmethod
    def from_event(
        cls, event: Mapping[str, Any], *, now: float, is_poll: bool, scope: Scope | None = None
    ) -> CfnRequest:
        """Read a well-formed event (see `properties.envelope_problem`)."""
        properties = event.get("ResourceProperties") or {}
        old = event.get("OldResourceProperties")
        return cls(
            request_type=str(event["RequestType"]),
            stack_id=str(event["StackId"]),
            logical_id=str(event["LogicalResourceId"]),
            request_id=str(event["RequestId"]),
            physical_id=str(event.get("PhysicalResourceId") or ""),
            properties=properties,
            old_properties=old if isinstance(old, Mapping) else None,
            is_poll=is_poll,
            # A first invocation's state is its own, whatever the event carries: only a poll resumes one.
            state=PollState.read(event.get(POLL_STATE) if is_poll else None, now, service_timeout(properties)),
            scope=scope or Scope(),
            resource_type=str(event.get("ResourceType") or ""),
        )

    @property
    def owner(self) -> Ownership:
        """The tags that mark a user as this resource's, made by this provider."""
        return Ownership(owner_tags(self.scope.provider_id, self.stack_id, self.logical_id))

    @property
    def stack_name(self) -> str:
        return stack_name(self.stack_id)

    @property
    def protected_id(self) -> str:
        """The user no clean-up of this request may delete: the one CloudFormation names for the
        resource while a Create or Update runs (a Delete deletes exactly that one)."""
        return "" if self.request_type == "Delete" else self.shown_id

    @property
    def not_created_id(self) -> str:
        return not_created_id(self.logical_id, self.request_id)

    @property
    def poll_rule_name(self) -> str:
        """The name of this request's poll rule (and Lambda permission): the same for every
        delivery of the request, so duplicates share one rule, and within RULE_NAME_MAX."""
        digest = hashlib.sha256(f"{self.stack_id}|{self.logical_id}|{self.request_id}".encode()).hexdigest()
        room = RULE_NAME_MAX - len(RULE_PREFIX) - 1 - RULE_DIGEST
        return f"{RULE_PREFIX}{self.logical_id[:room]}-{digest[:RULE_DIGEST]}"

    def late_reason(self) -> str:
        """Why a request whose ServiceTimeout is over before it could act is refused (within
        the 256 characters of an answer's Reason)."""
        waited = time.time() - self.state.since
        return (
            f"Nothing was changed: this {self.request_type} waited {waited:.0f} s in Lambda's queue after "
            f"CloudFormation sent it, leaving none of its ServiceTimeout ({self.state.timeout:.0f} s)."
            " Raise the provider's ProviderConcurrency (reserved concurrency) or ServiceTimeout, then retry."
        )

    def work_seconds(self, remaining: float, margin: float, poll_window: float) -> tuple[float, bool]:
        """The seconds this invocation may work and undo, and whether ServiceTimeout set them.

        `remaining`: Lambda's time left; `margin` is kept for the answer or the hand-over. A poll
        must end within `poll_window`, before EventBridge starts the next one, or two could
        answer. The first invocation must answer within ServiceTimeout counted from when
        CloudFormation sent the request (`state.since`, from its DescribeStackResource once
        confirmed: admission.py), however long the event waited in Lambda's queue: CloudFormation
        stops waiting then and rolls back, and a user made later is left (the answer came at
        25.6 s for a ServiceTimeout of 20 before this bound).
        The answer is one PUT of at most RESPONSE_TIMEOUT_SECONDS (5 s by default): a quarter of
        ServiceTimeout, at most the margin, is kept for it."""
        seconds = remaining - margin
        if self.is_poll:
            return min(seconds, poll_window), False
        timeout = self.state.timeout
        service = max(0.0, timeout - (time.time() - self.state.since) - min(margin, timeout / 4))
        return (service, True) if service < seconds else (seconds, False)
