"""The lifecycle of an ElastiCache RBAC user: create, modify, delete and wait.

Nothing here knows about CloudFormation. Every failure a person has to act on is raised
as UserOperationError, whose message names the user and what to do, and never holds a
password; running out of time is raised as DeadlineReached so the caller can hand over.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from deadline import Deadline, DeadlineReached, PollSchedule
from log import logger

if TYPE_CHECKING:
    from mypy_boto3_elasticache.client import ElastiCacheClient
    from mypy_boto3_elasticache.type_defs import UserResponseTypeDef, UserTypeDef

AuthenticationType = Literal["password", "iam", "no-password-required"]

THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded"})
# Statuses in which ElastiCache refuses changes for a while and then settles by itself.
TRANSIENT_STATUSES = frozenset({"creating", "modifying"})


class UserOperationError(Exception):
    """A failure a person has to act on. The message is safe to show: it holds no secret."""


class UserAlreadyExistsError(UserOperationError):
    """CreateUser found a user with that id already: it belongs to somebody else."""


@dataclass(frozen=True)
class UserSpec:
    """What a user should look like. Passwords are kept out of repr so they never reach a log."""

    user_id: str
    user_name: str
    engine: str
    access_string: str
    authentication: AuthenticationType
    passwords: tuple[str, ...] = field(default=(), repr=False)
    tags: Mapping[str, str] = field(default_factory=dict)

    def authentication_arguments(self) -> dict[str, Any]:
        """The CreateUser / ModifyUser arguments that set this authentication."""
        if self.authentication == "no-password-required":
            return {"NoPasswordRequired": True}
        if self.authentication == "iam":
            return {"AuthenticationMode": {"Type": "iam"}}
        return {"AuthenticationMode": {"Type": "password", "Passwords": list(self.passwords)}}


@dataclass(frozen=True)
class Ownership:
    """The tags that mark a user as made (or adopted) by one owner, e.g. one stack resource."""

    tags: Mapping[str, str]

    def describe_mismatch(self, found: Mapping[str, str]) -> str | None:
        """Why `found` does not mark the user as ours, or None when it does."""
        differing = sorted(k for k, v in self.tags.items() if found.get(k) != v)
        if not differing:
            return None
        if all(k not in found for k in differing):
            return "it carries no ownership tag (" + ", ".join(differing) + ")"
        return "its ownership tags name another owner (" + ", ".join(differing) + ")"


def error_code(error: ClientError) -> str:
    """The AWS error code of a ClientError ('' if absent)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    """The AWS error message of a ClientError ('' if absent)."""
    return str(error.response.get("Error", {}).get("Message", ""))


def _api_failure(action: str, user_id: str, error: ClientError) -> UserOperationError:
    """A readable error for an API failure that needs no special handling."""
    code = error_code(error)
    if code == "ServiceLinkedRoleNotFoundFault":
        return UserOperationError(
            f"{action} for user '{user_id}' failed: the ElastiCache service-linked role is missing "
            "in this account. Create it (aws iam create-service-linked-role "
            "--aws-service-name elasticache.amazonaws.com), then retry."
        )
    if code in ("InvalidParameterValue", "InvalidParameterCombination"):
        return UserOperationError(
            f"{action} for user '{user_id}' was refused by ElastiCache as invalid ({code}): {error_message(error)}"
        )
    return UserOperationError(f"{action} for user '{user_id}' failed: {code}: {error_message(error)}")


class UserLifecycle:
    """Create, modify and delete ElastiCache users, waiting for each change to settle."""

    def __init__(self, client: ElastiCacheClient, schedule: PollSchedule | None = None) -> None:
        self._client = client
        self._schedule = schedule or PollSchedule()

    def describe(self, user_id: str, checks: Iterator[int] | None = None) -> UserTypeDef | None:
        """The user as ElastiCache describes it, or None if it does not exist.

        While waiting (`checks` given), throttling that outlasts botocore's retries only
        postpones the check to the next interval: a busy API is no reason to fail.
        """
        while True:
            try:
                users = self._client.describe_users(UserId=user_id)["Users"]
            except ClientError as error:
                code = error_code(error)
                if code == "UserNotFound":
                    return None
                if checks is None or code not in THROTTLING_CODES:
                    raise _api_failure("DescribeUsers", user_id, error) from error
                logger.warning("DescribeUsers throttled; checking again later", extra={"user_id": user_id})
                next(checks)
                continue
            return users[0] if users else None

    def tags_of(self, user: UserTypeDef) -> dict[str, str]:
        """The user's tags as a dict."""
        try:
            listed = self._client.list_tags_for_resource(ResourceName=user["ARN"])["TagList"]
        except ClientError as error:
            raise _api_failure("ListTagsForResource", user["UserId"], error) from error
        return {t["Key"]: t["Value"] for t in listed if "Key" in t and "Value" in t}

    def _checks(self, deadline: Deadline) -> Iterator[int]:
        """Sleep through the poll schedule, yielding the check number before each check."""
        for number, interval in enumerate(self._schedule.intervals(), start=1):
            deadline.sleep(interval)
            yield number

    # Create -------------------------------------------------------------------------------

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
            code = error_code(error)
            if code == "UserAlreadyExists":
                raise UserAlreadyExistsError(
                    f"User '{spec.user_id}' already exists and was not made by this resource; "
                    "choose another UserId, or set AdoptExistingUser to 'true' to take it over."
                ) from error
            if code == "DuplicateUserName":
                raise UserOperationError(
                    f"Another user already has the UserName '{spec.user_name}'; UserName must be unique "
                    "per engine. Choose another UserName."
                ) from error
            if code == "UserQuotaExceeded":
                raise UserOperationError(
                    f"Cannot create user '{spec.user_id}': the account's ElastiCache user quota is "
                    "reached. Delete unused users or request a quota increase."
                ) from error
            raise _api_failure("CreateUser", spec.user_id, error) from error
        logger.info("CreateUser accepted", extra={"user_id": spec.user_id})

    def wait_until_active(self, user_id: str, deadline: Deadline) -> UserTypeDef:
        """Wait while the user is creating or modifying; return it once active."""
        checks = self._checks(deadline)
        user = self.describe(user_id, checks)
        while user is not None and user["Status"] in TRANSIENT_STATUSES:
            number = next(checks)
            user = self.describe(user_id, checks)
            logger.debug("waiting for user to be active", extra={"user_id": user_id, "check": number})
        if user is None:
            raise UserOperationError(f"User '{user_id}' disappeared while waiting for it to become active.")
        if user["Status"] != "active":
            raise UserOperationError(f"User '{user_id}' is in status '{user['Status']}' instead of 'active'.")
        return user

    # Modify -------------------------------------------------------------------------------

    def modify(self, user_id: str, arguments: Mapping[str, Any], deadline: Deadline) -> UserTypeDef:
        """Call ModifyUser (retried while the user is busy) and wait until it is active again."""
        checks = self._checks(deadline)
        while True:
            try:
                self._client.modify_user(UserId=user_id, **arguments)
                break
            except ClientError as error:
                code = error_code(error)
                if code == "UserNotFound":
                    raise UserOperationError(
                        f"User '{user_id}' does not exist any more, so it cannot be updated."
                    ) from error
                if code != "InvalidUserState":
                    raise _api_failure("ModifyUser", user_id, error) from error
                logger.info("user busy, ModifyUser will be retried", extra={"user_id": user_id})
                next(checks)
        return self.wait_until_active(user_id, deadline)

    def set_tags(self, user: UserTypeDef, old: Mapping[str, str], new: Mapping[str, str]) -> None:
        """Move the user's tags from `old` to `new`, touching only the keys that changed."""
        removed = [k for k in old if k not in new]
        changed = [{"Key": k, "Value": v} for k, v in new.items() if old.get(k) != v]
        try:
            if removed:
                self._client.remove_tags_from_resource(ResourceName=user["ARN"], TagKeys=removed)
            if changed:
                self._client.add_tags_to_resource(ResourceName=user["ARN"], Tags=changed)  # type: ignore[arg-type]
        except ClientError as error:
            raise _api_failure("Tagging", user["UserId"], error) from error

    # Delete -------------------------------------------------------------------------------

    def delete(self, user_id: str, deadline: Deadline, owner: Ownership | None = None, adopt: bool = False) -> None:
        """Delete the user and return once ElastiCache no longer knows it.

        A user that does not exist counts as deleted. A user that is modifying is waited
        for and then deleted. With `owner`, a user that does not carry its tags is refused,
        unless `adopt`, which tags it as the owner's first (the IAM policy deletes only
        tagged users).
        """
        checks = self._checks(deadline)
        user = self.describe(user_id, checks)
        owner_checked = owner is None
        while user is not None and user["Status"] != "deleting":
            if not owner_checked and owner is not None:
                found = self.tags_of(user)
                mismatch = owner.describe_mismatch(found)
                if mismatch and not adopt:
                    raise UserOperationError(
                        f"Refusing to delete user '{user_id}': {mismatch}, so this resource does not "
                        "own it. Remove it from the stack with DeletionPolicy: Retain, or set "
                        "AdoptExistingUser to 'true' if the stack should own it."
                    )
                if mismatch:
                    self.set_tags(user, found, {**found, **owner.tags})
                owner_checked = True
            if user["Status"] not in TRANSIENT_STATUSES and self._request_delete(user):
                break
            logger.debug(
                "user busy, DeleteUser will be retried",
                extra={"user_id": user_id, "status": user["Status"]},
            )
            next(checks)
            user = self.describe(user_id, checks)
        if user is not None:
            self.wait_until_gone(user_id, deadline)

    def _request_delete(self, user: UserTypeDef) -> bool:
        """Call DeleteUser; True once deletion is under way, False if the user was busy."""
        user_id = user["UserId"]
        try:
            response: UserResponseTypeDef = self._client.delete_user(UserId=user_id)
        except ClientError as error:
            code = error_code(error)
            if code == "UserNotFound":
                return True
            if code == "InvalidUserState":
                return False
            if code == "DefaultUserAssociatedToUserGroup":
                groups = ", ".join(user.get("UserGroupIds") or []) or "(unknown)"
                raise UserOperationError(
                    f"User '{user_id}' is the default user of user group(s) {groups}, and ElastiCache "
                    "does not delete a group's default user. Make another user the default user of "
                    "those group(s) (ModifyUserGroup) or delete the group(s), then retry the delete."
                ) from error
            raise _api_failure("DeleteUser", user_id, error) from error
        logger.info("DeleteUser accepted", extra={"user_id": user_id, "status": response.get("Status")})
        return True

    def wait_until_gone(self, user_id: str, deadline: Deadline) -> None:
        """Poll DescribeUsers until the user no longer exists; fail if it stops deleting."""
        checks = self._checks(deadline)
        for number in checks:
            user = self.describe(user_id, checks)
            if user is None:
                logger.info("user deleted", extra={"user_id": user_id, "checks": number})
                return
            status = user["Status"]
            logger.debug("waiting for user to be deleted", extra={"user_id": user_id, "check": number})
            if status != "deleting":
                raise UserOperationError(
                    f"User '{user_id}' left status 'deleting' for '{status}' instead of being deleted. "
                    "ElastiCache gave up the deletion; check the user and its user groups, then retry."
                )


__all__ = [
    "AuthenticationType",
    "DeadlineReached",
    "Ownership",
    "UserAlreadyExistsError",
    "UserLifecycle",
    "UserOperationError",
    "UserSpec",
    "error_code",
]
