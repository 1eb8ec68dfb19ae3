"""Every failure the handler can report, and the one table from ElastiCache error codes to
the reasons a person reads.

Each message names the user (or group) and what to do. Messages may quote ElastiCache's own
error text; `api_error` removes any password the failed call carried from it, at the source,
so no reason can carry one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the CDK library imports these rules without botocore
    from botocore.exceptions import ClientError


class PropertyError(ValueError):
    """A request or property that breaks a rule; the message is safe to show."""


class UserOperationError(Exception):
    """A failure a person has to act on. The message is safe to show: it holds no secret."""


class UserAlreadyExistsError(UserOperationError):
    """CreateUser found a user with that id already: it belongs to somebody else."""


class UserHeldError(UserOperationError):
    """An operator holds the user (tag `elasticache-user-resource:hold`): nothing may change it."""


class UserGoneError(UserOperationError):
    """The user does not exist (any more)."""


class DeadlineReached(Exception):
    """The work is still under way when the invocation must stop; a later poll resumes it."""


class HandOverError(Exception):
    """The poll could not be set up; the message is the FAILED answer's reason."""


class DeletionCutShort(DeadlineReached):
    """A deletion the deadline cut short, with what it had learnt: the user groups the user was
    in (DeleteUser removes it from them; they modify for a while, and are waited for)."""

    def __init__(self, groups: tuple[str, ...]) -> None:
        super().__init__(f"deletion cut short; groups {groups}")
        self.groups = groups


THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded"})

INVALID = "{action} for user '{user}' was refused by ElastiCache as invalid ({code}): {message}"
DENIED = (
    "{action} for user '{user}' was denied to the provider's role ({code}): {message}. Check the "
    "provider stack's parameters (the user must be one it may manage)."
)
# (action or "*", code) -> reason. Placeholders: action, user, code, message, groups.
# The most specific entry wins; a code missing here gets GENERIC.
CATALOGUE: dict[tuple[str, str], str] = {
    ("CreateUser", "UserAlreadyExists"): (
        "User '{user}' already exists and was not made by this resource; choose another UserId, "
        "or set AdoptExistingUser to 'true' to take it over."
    ),
    ("CreateUser", "DuplicateUserName"): (
        "Another user already has the UserName of user '{user}'; UserName must be unique per engine. "
        "Choose another UserName."
    ),
    ("CreateUser", "UserQuotaExceeded"): (
        "Cannot create user '{user}': the account's ElastiCache user quota is reached. Delete unused "
        "users or request a quota increase."
    ),
    ("ModifyUser", "UserNotFound"): "User '{user}' does not exist any more, so it cannot be updated.",
    ("DeleteUser", "DefaultUserAssociatedToUserGroup"): (
        "User '{user}' is the default user of user group(s) {groups}, and ElastiCache does not delete "
        "a group's default user. Make another user the default user of those group(s) (ModifyUserGroup) "
        "or delete the group(s), then retry the delete."
    ),
    ("*", "UserGroupNotFound"): (
        "User group '{group}' (in UserGroupIds of user '{user}') does not exist. Create the group first, "
        "or remove it from UserGroupIds."
    ),
    ("ModifyUserGroup", "InvalidParameterValue"): (
        "User group '{group}' refused user '{user}' ({code}): {message}. A valkey group takes only users "
        "with password or IAM authentication."
    ),
    ("ModifyUserGroup", "DuplicateUserName"): (
        "User group '{group}' already holds another user with the UserName of user '{user}': a group is "
        "one engine ACL, keyed by user name. Only the user a replacement replaces is swapped out; remove "
        "the other user from the group, or choose another UserName."
    ),
    ("ModifyUserGroup", "DefaultUserRequired"): (
        "User group '{group}' must keep a user named 'default', and user '{user}' is it. Make another "
        "user the group's default user first."
    ),
    ("DescribeUserGroups", "AccessDenied"): (
        "The provider's role may not read user group '{group}' ({code}). Check the provider stack's "
        "UserGroupIdPrefix parameter."
    ),
    ("ModifyUserGroup", "AccessDenied"): (
        "The provider's role may not change user group '{group}' ({code}). Check the provider stack's "
        "UserGroupIdPrefix parameter."
    ),
    ("*", "ServiceLinkedRoleNotFoundFault"): (
        "{action} for user '{user}' failed: the ElastiCache service-linked role is missing in this "
        "account. Create it (aws iam create-service-linked-role --aws-service-name "
        "elasticache.amazonaws.com), then retry."
    ),
    ("*", "InvalidParameterValue"): INVALID,
    ("*", "InvalidParameterCombination"): INVALID,
    ("*", "TagQuotaPerResourceExceeded"): (
        "{action} for user '{user}' failed: a user holds at most 50 tags, counting tags set outside "
        "this stack and the 3 ownership tags. Remove tags from the user or from Tags, then retry."
    ),
    ("*", "AccessDenied"): DENIED,
    ("*", "AccessDeniedException"): DENIED,
}
GENERIC = "{action} for user '{user}' failed: {code}: {message}"


def error_code(error: ClientError) -> str:
    """The AWS error code of a ClientError ('' if absent)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    """The AWS error message of a ClientError ('' if absent)."""
    return str(error.response.get("Error", {}).get("Message", ""))


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by ****; the longest first, so that a password
    holding another one is never left half-shown."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "****")
    return text


def reason_for(action: str, code: str, **values: str) -> str:
    """The catalogue's reason for `code` met by `action`."""
    template = CATALOGUE.get((action, code)) or CATALOGUE.get(("*", code)) or GENERIC
    defaults = {"message": "", "groups": "(unknown)", "group": "(unknown)"}
    return template.format(action=action, code=code, **{**defaults, **values})


def api_error(
    action: str, user_id: str, error: ClientError, secrets: Iterable[str] = (), **values: str
) -> UserOperationError:
    """The UserOperationError for a ClientError, its message free of `secrets`."""
    code = error_code(error)
    reason = reason_for(action, code, user=user_id, message=redact(error_message(error), secrets), **values)
    kind = UserAlreadyExistsError if (action, code) == ("CreateUser", "UserAlreadyExists") else UserOperationError
    return kind(reason)
