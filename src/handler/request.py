"""The typed request: everything a handler needs from a CloudFormation event, read once.

Handlers never index the raw event. A poll re-invocation carries no ResourceProperties (they
can hold passwords and exceed EventBridge's 8192-character target Input); it carries the
PollState the hand-over wrote instead.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import work
from envelope import owner_tags
from environment import SETTING
from limits import SERVICE_TIMEOUT_MAX
from user_spec import Ownership
from work import PollWork

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


class Scope(NamedTuple):
    """Which users this provider may touch, from the provider stack's parameters."""

    # PROVIDER_ID: the provider stack's id; its ownership tag on every user it makes.
    provider_id: str = SETTING["PROVIDER_ID"].default
    # USER_ID_PREFIX (UserIdPrefix): every UserId starts with it ('' allows all).
    user_id_prefix: str = SETTING["USER_ID_PREFIX"].default
    # ALLOW_ADOPTION (AllowAdoption): whether AdoptExistingUser may take over a user.
    allow_adoption: bool = False
    # USER_GROUP_ID_PREFIX (UserGroupIdPrefix): every group in UserGroupIds starts with it.
    user_group_id_prefix: str = SETTING["USER_GROUP_ID_PREFIX"].default

    @classmethod
    def from_environment(cls) -> Scope:
        return cls(
            provider_id=SETTING["PROVIDER_ID"].text() or SETTING["PROVIDER_ID"].default,
            user_id_prefix=SETTING["USER_ID_PREFIX"].text().lower(),
            allow_adoption=SETTING["ALLOW_ADOPTION"].flag(),
            user_group_id_prefix=SETTING["USER_GROUP_ID_PREFIX"].text().lower(),
        )

    def unreadable(self, group_ids: Iterable[str]) -> tuple[str, ...]:
        """The groups outside UserGroupIdPrefix: the provider's role may not even read them."""
        return tuple(g for g in group_ids if not g.startswith(self.user_group_id_prefix))

    def unread_note(self, unread: tuple[str, ...]) -> str:
        """What a Delete's answer says of the groups it did not wait for ('' when none)."""
        if not unread:
            return ""
        named = ", ".join(f"'{g}'" for g in unread)
        return (
            f"User deleted. Not waited for user group(s) {named}, outside the provider's UserGroupIdPrefix "
            f"'{self.user_group_id_prefix}' (its role may not read them): they may be modifying for minutes."
        )

    def outside(self, user_id: str, group_ids: tuple[str, ...] = ()) -> str | None:
        """Why this provider may not touch `user_id` or one of `group_ids`, or None when it may."""
        if not user_id.lower().startswith(self.user_id_prefix):
            name, value, prefix = "UserIdPrefix", f"UserId '{user_id}'", self.user_id_prefix
        else:
            outside = [g for g in group_ids if not g.startswith(self.user_group_id_prefix)]
            if not outside:
                return None
            name, value, prefix = "UserGroupIdPrefix", f"User group '{outside[0]}'", self.user_group_id_prefix
        return (
            f"{value} does not start with '{prefix}', the {name} parameter of the provider stack, so this "
            "provider may not manage it. Use a name with that prefix, or a provider deployed for it."
        )

    def refusal(self, user_id: str, group_ids: tuple[str, ...], adopt_existing: bool) -> str | None:
        """Why this provider refuses valid properties before any API call, or None. The CDK
        construct library asks the same at synth for a provider it deploys."""
        outside = self.outside(user_id, group_ids)
        if outside is None and adopt_existing and not self.allow_adoption:
            return (
                "AdoptExistingUser is 'true', but the provider stack's AllowAdoption parameter is 'false', so "
                "this provider takes over no existing user. Deploy the provider with AllowAdoption=true, or "
                "remove AdoptExistingUser."
            )
        return outside


class PollState(NamedTuple):
    """What crosses a hand-over: when the request was first seen, how long CloudFormation
    waits for it, and what is left to do (handler-specific, JSON, never a password)."""

    since: float
    timeout: float
    resume: PollWork | None = None

    def as_json(self) -> dict[str, Any]:
        return {"since": self.since, "timeout": self.timeout, "resume": work.as_json(self.resume)}

    @classmethod
    def read(cls, value: object, now: float, timeout: float) -> PollState:
        """The state a poll carries; anything unreadable falls back to `now` and `timeout`."""
        state = value if isinstance(value, Mapping) else {}
        since, limit, resume = state.get("since"), state.get("timeout"), state.get("resume")
        return cls(
            since=float(since) if isinstance(since, (int, float)) else now,
            timeout=float(limit) if isinstance(limit, (int, float)) else timeout,
            resume=work.from_json(resume),
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
            state=PollState.read(event.get(POLL_STATE), now, service_timeout(properties)),
            scope=scope or Scope(),
            resource_type=str(event.get("ResourceType") or ""),
        )

    @property
    def owner(self) -> Ownership:
        """The tags that mark a user as this resource's, made by this provider."""
        return Ownership(owner_tags(self.scope.provider_id, self.stack_id, self.logical_id))

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

    def work_seconds(self, remaining: float, margin: float, poll_window: float) -> tuple[float, bool]:
        """The seconds this invocation may work and undo, and whether ServiceTimeout set them.

        `remaining`: Lambda's time left; `margin` is kept for the answer or the hand-over. A poll
        must end within `poll_window`, before EventBridge starts the next one, or two could
        answer. The first invocation must answer within ServiceTimeout counted from its own
        start (`state.since`): CloudFormation stops waiting then and rolls back, and a user made
        later is left (the answer came at 25.6 s for a ServiceTimeout of 20 before this bound).
        The answer is one PUT of at most RESPONSE_TIMEOUT_SECONDS (5 s by default): a quarter of
        ServiceTimeout, at most the margin, is kept for it."""
        seconds = remaining - margin
        if self.is_poll:
            return min(seconds, poll_window), False
        timeout = self.state.timeout
        service = max(0.0, timeout - (time.time() - self.state.since) - min(margin, timeout / 4))
        return (service, True) if service < seconds else (seconds, False)
