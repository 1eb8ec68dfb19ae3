"""A small stateful fake of the ElastiCache user API, served over HTTP in the query protocol
boto3 speaks, for what moto does not model: deletions and changes that take time, users
that are "modifying", user groups and their default user, deletions that fall back to
"active", throttling under a request rate, and faults (HTTP 500, connection resets, slow
answers).

It is as unkind as real ElastiCache (sources: docs/aws-behaviour.md, "ElastiCache users and user
groups"), each with a test in tests/test_fake.py:
- new users start `creating` (CreateUser answers it; `create_seconds` later `active`);
- tagging calls on a user that is not `active` answer 404 UserNotFound "<arn> is not
  available for tagging" (terraform-provider-aws #34002);
- after a tag change, another tag change gets the same 404 for `tag_busy_seconds`, while
  DescribeUsers already says `active` (terraform-provider-aws #47638, real: about 5 s);
- ModifyUser answers InvalidUserState "... has status modifying. Only active users can be
  modified." for `modify_race_seconds` after a modification ended, although DescribeUsers
  says `active` (terraform-provider-aws #49726);
- RemoveTagsFromResource of a key the user lacks: 404 TagNotFound; more than 50 tags on a
  user: TagQuotaPerResourceExceeded;
- user groups: a membership change leaves the group `modifying` for `group_modify_seconds`
  (its UserIds change only then; meanwhile PendingChanges lists them), and another change
  meets InvalidUserGroupState (terraform-provider-aws #28688); removing a user that is not a
  member fails the WHOLE call with InvalidParameterValue (#43281); a group must keep a user
  named `default` (DefaultUserRequired) and one user per UserName (DuplicateUserName); a
  `valkey` group takes only password or IAM users (RBAC docs); DeleteUser removes the user
  from its groups, which are `modifying` until `group_modify_seconds` after it is gone;
- reads lag behind writes (AWS APIs are eventually consistent; Terraform's waiters tolerate
  "not found" right after a create): for `read_lag_seconds` after CreateUser, DescribeUsers
  and the tagging calls answer UserNotFound for the new user, and after ModifyUserGroup,
  DescribeUserGroups still shows the group as it was;
- `broken` makes an action fail every time with one error code (a permanent failure, e.g.
  ModifyUser refused by a policy), to prove what a failed request leaves behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.engine import Engine
from local.fake_access import EngineMirror
from local.fake_groups import UserGroupsApi
from local.fake_state import FakeGroup, FakeUser
from local.fake_tags import TAGS_PER_RESOURCE, TaggingApi
from local.fake_wire import members, paged, request_tags, take_fault, user_xml
from local.http_fake import ServiceError, TokenBucket


@dataclass
class FakeElastiCache(UserGroupsApi, TaggingApi, EngineMirror, TokenBucket):
    """The API's state. Times are seconds; every call is recorded in `calls`. With an `engine`,
    access strings are judged by the real engine and users mirrored onto it (fake_access.py)."""

    engine: Engine | None = None
    # Every timer of the fake reads it (tests of the fake itself move a local.clock.ManualClock).
    clock: Callable[[], float] = time.monotonic

    delete_seconds: float = 0.0
    # Per-user deletion times, overriding delete_seconds (the benchmark deletes many at once).
    delete_seconds_for: dict[str, float] = field(default_factory=dict)
    create_seconds: float = 0.0
    modify_seconds: float = 0.0
    # Unkind timings (see the module docstring); real ElastiCache: about 5 s for tags.
    tag_busy_seconds: float = 0.3
    modify_race_seconds: float = 0.2
    # What a new user becomes once "creating" ends (e.g. a failure status).
    create_settles_to: str = "active"
    # Requests per second above which the API answers Throttling (None: no limit).
    rate_limit: float | None = None
    users: dict[str, FakeUser] = field(default_factory=dict)
    groups: dict[str, FakeGroup] = field(default_factory=dict)
    # The tags add_group gives a group by default (real groups have none; tests/conftest.py's
    # scene: group owners who admit the tests' stack, app-stack).
    group_tags: dict[str, str] = field(default_factory=dict)
    group_modify_seconds: float = 0.3
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    # Consumed in order by matching calls: (action or "*", kind); kind is "throttle", "500",
    # "reset", "slow", or an error code to answer with (e.g. "InvalidUserState"; with "+echo"
    # its message quotes every request parameter).
    faults: list[tuple[str, str]] = field(default_factory=list)
    slow_seconds: float = 3.0
    # Told each action as it arrives, before it is applied (a test kills the caller there).
    on_call: Callable[[str], None] | None = None
    # Action -> error code it answers every time (a permanent failure).
    broken: dict[str, str] = field(default_factory=dict)
    read_lag_seconds: float = 0.0
    # (action, user or group id) pairs denied beyond the role's own policy (as a service control
    # policy or permissions boundary would): answered AccessDenied, explicit deny.
    denied: set[tuple[str, str]] = field(default_factory=set)
    # User ids whose deletion falls back to "active" instead of finishing.
    failing_deletes: set[str] = field(default_factory=set)
    # When each user disappeared, and each group last became active (on `clock`).
    gone_at: dict[str, float] = field(default_factory=dict)
    group_active_at: dict[str, float] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    throttled: int = 0
    # What the modelled API answered (injected faults not counted): error codes, and successes.
    refused: dict[str, int] = field(default_factory=dict)
    succeeded: dict[str, int] = field(default_factory=dict)

    # Setting the scene ---------------------------------------------------------------------

    def add_user(self, user_id: str, **attributes: Any) -> FakeUser:
        with self.lock:
            user = FakeUser(user_id=user_id, user_name=attributes.pop("user_name", user_id), **attributes)
            self.users[user_id] = user
            self.mirror(user)
            return user

    def add_group(
        self,
        group_id: str,
        engine: str = "redis",
        members: tuple[str, ...] = (),
        tags: dict[str, str] | None = None,
    ) -> FakeGroup:
        """A user group with its own `default` user (UserName 'default') and `members`, tagged
        `tags` (None: `group_tags`, the tags the scene's group owners write)."""
        with self.lock:
            default = f"{group_id}-default"
            if default not in self.users:
                self.add_user(default, user_name="default", engine=engine, authentication_type="no-password")
            owners = self.group_tags if tags is None else tags
            group = FakeGroup(group_id, engine, [default, *members], tags=dict(owners))
            self.groups[group_id] = group
            for user_id in group.user_ids:
                self.users[user_id].user_group_ids.append(group_id)
            return group

    def hold(self, user_id: str, status: str, seconds: float, then: str | None = "active") -> None:
        """Put a user in a transient status (e.g. "modifying") for `seconds`."""
        with self.lock:
            user = self.users[user_id]
            user.status, user.settle_at, user.settle_to = status, self.clock() + seconds, then

    def count(self, action: str) -> int:
        with self.lock:
            return sum(1 for name, _ in self.calls if name == action)

    def wait_for_call(self, action: str, times: int = 1, timeout: float = 10.0) -> bool:
        """Block until `action` has been answered `times` times (True), or `timeout` passed: tests
        wait on what the fake saw, not on a sleep that assumes an idle machine."""
        return self.wait_until(lambda fake: fake.succeeded.get(action, 0) >= times, timeout)

    def wait_until(self, condition: Callable[[FakeElastiCache], bool], timeout: float = 10.0) -> bool:
        """Block until `condition(self)` holds on the settled state (True), or `timeout` passed:
        a test waits for "the user is gone" itself, not for a sleep it guessed long enough."""
        end = time.monotonic() + timeout
        while True:
            with self.lock:
                self._settle()
                if condition(self):
                    return True
            if time.monotonic() >= end:
                return False
            time.sleep(0.01)

    def accepted(self, action: str) -> int:
        """How many calls of `action` succeeded."""
        with self.lock:
            return self.succeeded.get(action, 0)

    def actions(self) -> list[str]:
        with self.lock:
            return [name for name, _ in self.calls]

    # The API -------------------------------------------------------------------------------

    def _settle(self) -> None:
        now = self.clock()
        for user_id, user in list(self.users.items()):
            if user.settle_at is not None and now >= user.settle_at:
                if user.settle_to is None:
                    del self.users[user_id]
                    self.unmirror(user)
                    self.gone_at[user_id] = user.settle_at
                    for group_id in user.user_group_ids:
                        if group_id in self.groups:
                            self.groups[group_id].settle_at = user.settle_at + self.group_modify_seconds
                    continue
                if user.status == "modifying":
                    user.modify_refused_until = user.settle_at + self.modify_race_seconds
                user.status, user.settle_at = user.settle_to, None

        for group in self.groups.values():
            if group.settle_at is not None and now >= group.settle_at:
                for user_id in group.removing:
                    group.user_ids.remove(user_id)
                    if user_id in self.users:
                        self.users[user_id].user_group_ids.remove(group.group_id)
                for user_id in group.adding:
                    group.user_ids.append(user_id)
                    self.users[user_id].user_group_ids.append(group.group_id)
                self.group_active_at[group.group_id] = group.settle_at
                group.status, group.settle_at, group.adding, group.removing = "active", None, [], []

    def next_fault(self, action: str, params: dict[str, str]) -> str | None:
        """Record the call, and take the first fault planned for it (if any)."""
        with self.lock:
            self.calls.append((action, params))
            if self.on_call is not None:
                self.on_call(action)
            return take_fault(self.faults, action)

    def _user(self, user_id: str, read: bool = False) -> FakeUser:
        user = self.users.get(user_id)
        if user is None or (read and self.clock() < user.visible_at):
            raise ServiceError("UserNotFound", f"User {user_id} not found.", 404)
        return user

    def call(self, action: str, params: dict[str, str], caller: str | None = None) -> str:
        """Run one API action for `caller` (a function, judged by its role's policy: see
        local/iam_gate.py; None: the test itself); returns the Result element's inner XML or
        raises ServiceError."""
        with self.lock:
            if self._throttled():
                raise ServiceError("Throttling", "Rate exceeded", 400)
            self._settle()
            method = getattr(self, "_" + action, None)
            if method is None:
                raise ServiceError("InvalidAction", f"{action} is not modelled by the fake.", 400)
            if action in self.broken:
                code = self.broken[action]
                self.refused[code] = self.refused.get(code, 0) + 1
                raise ServiceError(code, f"{action} refused: {code}.", 400)
            self._authorize(action, params, caller)
            try:
                result: str = method(params)
            except ServiceError as error:
                self.refused[error.code] = self.refused.get(error.code, 0) + 1
                raise
            self.succeeded[action] = self.succeeded.get(action, 0) + 1
            return result

    def _DescribeUsers(self, params: dict[str, str]) -> str:
        if "UserId" in params:
            users, marker = [self._user(params["UserId"], read=True)], ""
        else:
            users, marker = paged(sorted(self.users.values(), key=lambda u: u.user_id), params)
        return "<Users>" + "".join(f"<member>{user_xml(u)}</member>" for u in users) + "</Users>" + marker

    def _CreateUser(self, params: dict[str, str]) -> str:
        user_id = params["UserId"].lower()
        if user_id in self.users:
            raise ServiceError("UserAlreadyExists", f"User {user_id} already exists.")
        passwords = members(params, "Passwords") or members(params, "AuthenticationMode.Passwords")
        kind = params.get("AuthenticationMode.Type") or (
            "no-password" if params.get("NoPasswordRequired") == "true" else "password"
        )
        tags = request_tags(params)
        if len(tags) > TAGS_PER_RESOURCE:
            raise ServiceError("TagQuotaPerResourceExceeded", "The request cannot be processed: tag quota exceeded.")
        self.checked_rules(params["AccessString"])
        user = self.add_user(
            user_id,
            user_name=params["UserName"],
            engine=params["Engine"].lower(),
            access_string=params["AccessString"],
            authentication_type="no-password" if kind == "no-password-required" else kind,
            password_count=len(passwords),
            passwords=passwords,
            tags=tags,
        )
        self.hold(user_id, "creating", self.create_seconds, self.create_settles_to)
        user.visible_at = self.clock() + self.read_lag_seconds
        return user_xml(user)

    def _ModifyUser(self, params: dict[str, str]) -> str:
        user = self._user(params["UserId"])
        if user.status != "active" or self.clock() < user.modify_refused_until:
            raise ServiceError(
                "InvalidUserState",
                f"User {user.user_id} has status {user.status if user.status != 'active' else 'modifying'}. "
                "Only active users can be modified.",
            )
        if "AccessString" in params:
            self.checked_rules(params["AccessString"])  # before anything changes
            user.access_string = params["AccessString"]
        if "Engine" in params:
            user.engine = params["Engine"].lower()
        passwords = members(params, "Passwords") or members(params, "AuthenticationMode.Passwords")
        if passwords:
            user.passwords, user.password_count, user.authentication_type = passwords, len(passwords), "password"
        if params.get("AuthenticationMode.Type") == "iam":
            user.authentication_type, user.password_count = "iam", 0
        if params.get("NoPasswordRequired") == "true":
            user.authentication_type, user.password_count = "no-password", 0
        self.mirror(user)
        if self.modify_seconds:
            self.hold(user.user_id, "modifying", self.modify_seconds)
        return user_xml(user)

    def _DeleteUser(self, params: dict[str, str]) -> str:
        user = self._user(params["UserId"])
        if user.default_of:
            raise ServiceError("DefaultUserAssociatedToUserGroup", "The user is the default user of a user group.")
        if user.status in ("creating", "modifying", "deleting"):
            raise ServiceError("InvalidUserState", f"User {user.user_id} is in {user.status} state.")
        then = "active" if user.user_id in self.failing_deletes else None
        self.hold(user.user_id, "deleting", self.delete_seconds_for.get(user.user_id, self.delete_seconds), then)
        if then is None:
            for group in (self.groups[g] for g in user.user_group_ids if g in self.groups):
                # Modifying until group_modify_seconds after the user is gone (set in _settle).
                group.status, group.removing, group.settle_at = "modifying", [user.user_id], float("inf")
        return user_xml(user)
