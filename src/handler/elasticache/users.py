"""The lifecycle of an ElastiCache RBAC user: create, modify, tag, delete and wait.

Nothing here knows about CloudFormation. Every failure a person has to act on is raised as UserOperationError
(reasons from `exceptions.CATALOGUE`, free of passwords); running out of time as DeadlineReached (to hand over).

Real ElastiCache is less kind than its model (sources: docs/aws-behaviour.md):
- tagging calls on a user that is not `active`, and for about 5 s after a tag change, answer
  404 UserNotFound "... is not available for tagging" (terraform-provider-aws #34002,
  #47638): that never means gone, so they are retried while DescribeUsers still finds it;
- ModifyUser right after a wait saw `active` can still meet InvalidUserState
  (terraform-provider-aws #49726): retried while the user is busy;
- RemoveTagsFromResource of a key the user lacks answers TagNotFound: only keys it has are removed.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from elasticache.user_spec import Ownership, TagChange, UserSpec, tag_kinds
from runtime.deadline import TRANSIENT_STATUSES, Deadline, PollSchedule, Waiter
from runtime.exceptions import (
    THROTTLING_CODES,
    DeadlineReached,
    DeletionCutShort,
    UserGoneError,
    UserHeldError,
    UserOperationError,
    api_error,
    error_code,
    reason_for,
)
from runtime.log import logger

if TYPE_CHECKING:
    from mypy_boto3_elasticache.client import ElastiCacheClient
    from mypy_boto3_elasticache.type_defs import UserTypeDef

T = TypeVar("T")


class UserLifecycle:
    """Create, modify, tag and delete ElastiCache users, waiting for each change to settle."""

    def __init__(
        self,
        client: ElastiCacheClient,
        schedule: PollSchedule,
        grace: float = 0.0,
        owner: Ownership | None = None,
        protected: str = "",
    ) -> None:
        """With `owner` (a request's), every change is refused on a user whose ownership tags do
        not name it (checked once per user; users this lifecycle made or adopted pass), and the
        user `protected` (the one CloudFormation names while a Create or Update runs) is never
        deleted."""
        self._client = client
        self._schedule = schedule
        self._owner = owner
        self._owned: set[str] = set()
        self._protected = protected
        # Seconds after CreateUser (accepted, or answered "already exists") during which "not
        # found" is read-after-write lag: the user exists.
        self._grace = grace
        self._written: dict[str, float] = {}

    def _just_written(self, user_id: str) -> bool:
        at = self._written.get(user_id)
        return at is not None and time.monotonic() - at < self._grace

    def waiter(self, deadline: Deadline) -> Waiter:
        return Waiter(self._schedule, deadline)

    def describe(self, user_id: str, waiter: Waiter | None = None) -> UserTypeDef | None:
        """The user as ElastiCache describes it, or None if it does not exist.

        While waiting (`waiter` given), throttling that outlasts botocore's retries only
        postpones the check: a busy API is no reason to fail.
        """
        while True:
            try:
                users = self._client.describe_users(UserId=user_id)["Users"]
            except ClientError as error:
                code = error_code(error)
                if code == "UserNotFound":
                    return None
                if waiter is None or code not in THROTTLING_CODES:
                    raise api_error("DescribeUsers", user_id, error) from error
                logger.warning("DescribeUsers throttled; checking again later", extra={"user_id": user_id})
                waiter.pause()
                continue
            return users[0] if users else None

    def settled(self, user_id: str, deadline: Deadline) -> UserTypeDef | None:
        """The user once it is no longer creating or modifying (None: it does not exist)."""
        waiter = self.waiter(deadline)
        while True:
            user = waiter.settled(lambda: self.describe(user_id, waiter), "user", {"user_id": user_id})
            if user is not None or not self._just_written(user_id):
                return user
            logger.info("user just written is not visible yet (read-after-write lag)", extra={"user_id": user_id})
            waiter.pause()

    def wait_until_active(self, user_id: str, deadline: Deadline) -> UserTypeDef:
        """Wait while the user is creating or modifying; return it once active."""
        user = self.settled(user_id, deadline)
        if user is None:
            raise UserGoneError(f"User '{user_id}' disappeared while waiting for it to become active.")
        if user["Status"] != "active":
            raise UserOperationError(f"User '{user_id}' is in status '{user['Status']}' instead of 'active'.")
        return user

    def _tagging(self, user: UserTypeDef, action: str, call: Callable[[], T], deadline: Deadline) -> T:
        """Run a tagging call, retried while ElastiCache refuses tagging on a busy user."""
        user_id = user["UserId"]
        waiter = self.waiter(deadline)
        while True:
            try:
                return call()
            except ClientError as error:
                if error_code(error) != "UserNotFound":
                    raise api_error(action, user_id, error) from error
                current = self.describe(user_id, waiter)
                if current is None and self._just_written(user_id):
                    waiter.pause()
                    continue
                if current is None:
                    raise UserGoneError(f"User '{user_id}' does not exist any more.") from error
                if current["Status"] not in TRANSIENT_STATUSES | {"active"}:
                    raise UserOperationError(
                        f"User '{user_id}' is in status '{current['Status']}', in which ElastiCache refuses "
                        f"{action}; check the user in ElastiCache, then retry."
                    ) from error
                logger.info("user not available for tagging yet; retrying", extra={"user_id": user_id})
                waiter.pause()

    def tags_of(self, user: UserTypeDef, deadline: Deadline) -> dict[str, str]:
        """The user's tags as a dict."""
        listed = self._tagging(
            user,
            "ListTagsForResource",
            lambda: self._client.list_tags_for_resource(ResourceName=user["ARN"])["TagList"],
            deadline,
        )
        return {t["Key"]: t["Value"] for t in listed if "Key" in t and "Value" in t}

    def change_tags(
        self, user: UserTypeDef, change: TagChange, deadline: Deadline, actual: Mapping[str, str] | None = None
    ) -> None:
        """Apply `change` against the user's actual tags (read here unless the caller just read
        them): remove only keys it has, set only values that differ (each tag call leaves
        tagging busy for seconds: fewer is faster). The template's tags, the secret binding and
        the ownership tags each go in calls of their own: the IAM policy allows each kind by a
        statement of its own (ForAllValues on aws:TagKeys), never two kinds in one call."""
        actual = self.tags_of(user, deadline) if actual is None else actual
        if self._owner is not None and user["UserId"] not in self._owned:
            self._refuse_unowned(user, actual)
        for keys in tag_kinds(k for k in change.remove if k in actual):
            self._tagging(user, "RemoveTagsFromResource", functools.partial(self._remove_tags, user, keys), deadline)
        for keys in tag_kinds(k for k, v in change.set.items() if actual.get(k) != v):
            tags = {k: change.set[k] for k in keys}
            self._tagging(user, "AddTagsToResource", functools.partial(self._add_tags, user, tags), deadline)

    def _add_tags(self, user: UserTypeDef, tags: Mapping[str, str]) -> None:
        pairs = [{"Key": k, "Value": v} for k, v in tags.items()]
        self._client.add_tags_to_resource(ResourceName=user["ARN"], Tags=pairs)  # type: ignore[arg-type]

    def _remove_tags(self, user: UserTypeDef, keys: list[str]) -> None:
        try:
            self._client.remove_tags_from_resource(ResourceName=user["ARN"], TagKeys=keys)
        except ClientError as error:
            # A duplicate request removed them first: what was asked for holds.
            if error_code(error) != "TagNotFound":
                raise

    def _denied_as_gone(self, error: ClientError, user_id: str) -> bool:
        """An AccessDenied on a user that does not exist: the role's tag conditions cannot match a
        user without tags, so IAM may refuse before ElastiCache could answer UserNotFound."""
        return error_code(error) in ("AccessDenied", "AccessDeniedException") and self.describe(user_id) is None

    def create(self, spec: UserSpec) -> None:
        """Ask ElastiCache to create the user; `wait_until_active` then waits for it."""
        arguments: dict[str, Any] = {
            "UserId": spec.user_id,
            "UserName": spec.user_name,
            "Engine": spec.engine,
            "AccessString": spec.access_string,
            **spec.authentication_arguments(),
        }
        if spec.tags:
            arguments["Tags"] = [{"Key": k, "Value": v} for k, v in spec.tags.items()]
        try:
            self._client.create_user(**arguments)
        except ClientError as error:
            if error_code(error) == "UserAlreadyExists":
                self._written[spec.user_id] = time.monotonic()
            raise api_error("CreateUser", spec.user_id, error, spec.passwords) from error
        self._written[spec.user_id] = time.monotonic()
        self._owned.add(spec.user_id)  # made with the ownership tags
        logger.info("CreateUser accepted", extra={"user_id": spec.user_id})

    def adopt(self, user_id: str) -> None:
        """A take-over decided (the user is this resource's, or AdoptExistingUser took an
        untagged one): its ownership tags may be written."""
        self._owned.add(user_id)

    def ensure_owned(self, user_id: str, deadline: Deadline) -> None:
        """Raise UserOperationError unless the user carries the owner's tags and no hold (or does
        not exist: the change that follows then finds it gone)."""
        if self._owner is None or user_id in self._owned:
            return
        user = self.settled(user_id, deadline)
        if user is not None:
            self._refuse_unowned(user, self.tags_of(user, deadline))

    def _refuse_unowned(self, user: UserTypeDef, found: Mapping[str, str]) -> None:
        mismatch = self._owner.describe_mismatch(found) if self._owner else None
        if mismatch:
            raise UserOperationError(
                f"Refusing to change user '{user['UserId']}': {mismatch}. This resource changes only the user "
                "it made or took over."
            )
        if held := Ownership.hold(user["UserId"], found):
            raise UserHeldError(held)  # an operator's: nothing changes it, whoever asks
        self._owned.add(user["UserId"])

    def modify(self, user_id: str, arguments: Mapping[str, Any], deadline: Deadline) -> None:
        """Call ModifyUser, retried while the user is busy; returns once it is accepted."""
        self.ensure_owned(user_id, deadline)
        passwords = arguments.get("AuthenticationMode", {}).get("Passwords", ())
        waiter = self.waiter(deadline)
        while True:
            try:
                self._client.modify_user(UserId=user_id, **arguments)
            except ClientError as error:
                if self._denied_as_gone(error, user_id):
                    raise UserOperationError(reason_for("ModifyUser", "UserNotFound", user=user_id)) from error
                if error_code(error) != "InvalidUserState":
                    raise api_error("ModifyUser", user_id, error, passwords) from error
                logger.info("user busy, ModifyUser will be retried", extra={"user_id": user_id})
                waiter.pause()
                continue
            logger.info("ModifyUser accepted", extra={"user_id": user_id, "changes": sorted(arguments)})
            return

    def delete(
        self,
        user_id: str,
        deadline: Deadline,
        owner: Ownership | None = None,
        adopt: bool = False,
        known_groups: tuple[str, ...] = (),
    ) -> tuple[str, ...]:
        """Delete the user, return once ElastiCache no longer knows it, with the user groups it
        was in (`known_groups`, learnt by an earlier poll, and those DescribeUsers shows);
        DeleteUser removes it from them, and they modify for a while. Cut short by the deadline
        once they are known, it raises DeletionCutShort with them.

        A user that does not exist counts as deleted. A user that is creating or modifying is
        waited for (its tags cannot be read before), then its ownership is checked: with
        `owner`, a user without its tags is refused unless `adopt`, which tags it first (the
        IAM policy deletes only tagged users).
        """
        if user_id == self._protected:
            raise UserOperationError(
                f"Refusing to delete user '{user_id}': CloudFormation names it for this resource, so it is not a "
                "user this request made."
            )
        owner = owner or self._owner
        user = self.settled(user_id, deadline)
        found = user.get("UserGroupIds") or [] if user is not None else []
        groups = known_groups + tuple(g for g in found if g not in known_groups)
        try:
            self._delete(user_id, user, deadline, owner, adopt)
        except DeadlineReached as error:
            raise DeletionCutShort(groups) from error
        return groups

    def _delete(
        self, user_id: str, user: UserTypeDef | None, deadline: Deadline, owner: Ownership | None, adopt: bool
    ) -> None:
        waiter = self.waiter(deadline)
        owner_checked = owner is None or user_id in self._owned
        while user is not None and user["Status"] != "deleting":
            if not owner_checked and owner is not None:
                try:
                    self._check_owner(user, owner, adopt, deadline)
                except UserOperationError:
                    # A duplicate delivery deleted it meanwhile (tags are refused once it is deleting).
                    user = self.describe(user_id, waiter)
                    if user is None or user["Status"] == "deleting":
                        break
                    raise
                owner_checked = True
            if user["Status"] not in TRANSIENT_STATUSES and self._request_delete(user):
                break
            logger.debug("user busy, DeleteUser will be retried", extra={"user_id": user_id, "status": user["Status"]})
            waiter.pause()
            user = self.describe(user_id, waiter)
        if user is not None:
            self.wait_until_gone(user_id, deadline)

    def _check_owner(self, user: UserTypeDef, owner: Ownership, adopt: bool, deadline: Deadline) -> None:
        found = self.tags_of(user, deadline)
        mismatch = owner.describe_mismatch(found)
        if mismatch and not (adopt and owner.untagged(found)):  # never another owner's user
            raise UserOperationError(
                f"Refusing to delete user '{user['UserId']}': {mismatch}. Remove it from the stack with "
                "DeletionPolicy: Retain, or set AdoptExistingUser to 'true' (the provider's AllowAdoption "
                "parameter must be 'true')."
            )
        if mismatch:
            self.adopt(user["UserId"])
            self.change_tags(user, TagChange(set=owner.tags), deadline, found)

    def _request_delete(self, user: UserTypeDef) -> bool:
        """Call DeleteUser; True once deletion is under way, False if the user was busy."""
        user_id = user["UserId"]
        try:
            self._client.delete_user(UserId=user_id)
        except ClientError as error:
            code = error_code(error)
            if code == "UserNotFound" or self._denied_as_gone(error, user_id):
                return True
            if code == "InvalidUserState":
                return False
            groups = ", ".join(user.get("UserGroupIds") or []) or "(unknown)"
            raise api_error("DeleteUser", user_id, error, groups=groups) from error
        logger.info("DeleteUser accepted", extra={"user_id": user_id})
        return True

    def wait_until_gone(self, user_id: str, deadline: Deadline) -> None:
        """Poll DescribeUsers until the user no longer exists; fail if it stops deleting."""
        waiter = self.waiter(deadline)
        while True:
            check = waiter.pause()
            user = self.describe(user_id, waiter)
            if user is None:
                logger.info("user deleted", extra={"user_id": user_id, "checks": check})
                return
            logger.debug("waiting for user to be deleted", extra={"user_id": user_id, "check": check})
            if user["Status"] != "deleting":
                raise UserOperationError(
                    f"User '{user_id}' left status 'deleting' for '{user['Status']}' instead of being deleted. "
                    "ElastiCache gave up the deletion; check the user and its user groups, then retry."
                )
