"""User group membership of one user: join, leave, and wait for the groups to settle.

Real ElastiCache (docs/aws-behaviour.md): a membership change leaves the group `modifying`
for seconds to minutes (over 5 min when it is attached to clusters: terraform-provider-aws
#20729, #30921), during which another change answers InvalidUserGroupState (#28688);
removing a user that is no longer a member fails the WHOLE ModifyUserGroup call (#43281),
and swallowing that error silently dropped the additions of the same call (#49945). So each
call changes one group for one user, a removal first checks membership, and every change
is read back with DescribeUserGroups: the status alone is never trusted.

A join needs the group owner's consent (consent.py), read from the group's tags before any
change; a membership the group already lists needs none, nor does leaving.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from elasticache.consent import verdict
from runtime.deadline import Deadline, PollSchedule, Waiter
from runtime.exceptions import UserOperationError, api_error, error_code, reason_for
from runtime.log import logger

if TYPE_CHECKING:
    from mypy_boto3_elasticache.client import ElastiCacheClient
    from mypy_boto3_elasticache.type_defs import UserGroupTypeDef


class GroupMembership:
    """Joins and leaves user groups for one user at a time, verifying each change."""

    def __init__(
        self, client: ElastiCacheClient, schedule: PollSchedule, grace: float = 0.0, consent_of: str | None = None
    ) -> None:
        self._client = client
        self._schedule = schedule
        # The name of the stack whose users join: each group joined must consent to it (None:
        # consent is not asked, the provider's RequireGroupConsent parameter is 'false').
        self._consent_of = consent_of
        # Seconds after an accepted change during which a read that does not show it yet is
        # read-after-write lag, not a refusal.
        self._grace = grace

    def describe(self, group_id: str, user_id: str) -> UserGroupTypeDef | None:
        """The group, or None when it does not exist."""
        try:
            return self._client.describe_user_groups(UserGroupId=group_id)["UserGroups"][0]
        except ClientError as error:
            if error_code(error) == "UserGroupNotFound":
                return None
            raise api_error("DescribeUserGroups", user_id, error, group=group_id) from error

    def check(self, user_id: str, authentication: str, group_ids: Iterable[str]) -> None:
        """Refuse, before any change, a group that does not exist, would refuse the user, or
        whose owner does not consent to it joining (a group that lists it already needs none)."""
        for group_id in group_ids:
            group = self.describe(group_id, user_id)
            if group is None:
                raise UserOperationError(
                    reason_for("DescribeUserGroups", "UserGroupNotFound", user=user_id, group=group_id)
                )
            if self._consent_of is not None and user_id not in group.get("UserIds", []):
                self.require_consent(group, user_id, self._consent_of)
            if group.get("Engine") == "valkey" and authentication == "no-password-required":
                raise UserOperationError(
                    f"User group '{group_id}' is a valkey group, which takes only users with password or IAM "
                    f"authentication, and user '{user_id}' has none. Set Passwords or IAM authentication."
                )

    def tags_of(self, group: UserGroupTypeDef, user_id: str) -> dict[str, str]:
        """The group's tags (ListTagsForResource on its ARN)."""
        group_id = group["UserGroupId"]
        try:
            listed = self._client.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]
        except ClientError as error:
            if error_code(error) in ("AccessDenied", "AccessDeniedException"):
                raise UserOperationError(
                    f"The provider's role may not read the tags of user group '{group_id}', so whether its owner "
                    "agrees that this stack's users join it cannot be told. Update the provider stack (its role "
                    "reads the tags of the groups under UserGroupIdPrefix), or check that prefix."
                ) from error
            raise api_error("ListTagsForResource", user_id, error, group=group_id) from error
        return {t["Key"]: t["Value"] for t in listed if "Key" in t and "Value" in t}

    def require_consent(self, group: UserGroupTypeDef, user_id: str, stack_name: str) -> None:
        """Refuse unless the group's owner admits users of `stack_name` (its consent tag)."""
        found = verdict(group["UserGroupId"], self.tags_of(group, user_id), stack_name)
        if not found.admitted:
            raise UserOperationError(found.reason)

    def settled(self, group_id: str, user_id: str, deadline: Deadline) -> UserGroupTypeDef | None:
        """The group once it is neither creating nor modifying (None: it does not exist)."""
        return Waiter(self._schedule, deadline).settled(
            lambda: self.describe(group_id, user_id), "user group", {"user_group_id": group_id}
        )

    def join(
        self,
        user_id: str,
        group_id: str,
        deadline: Deadline,
        accepted: list[str] | None = None,
        replacing: str | None = None,
        swapped: list[str] | None = None,
    ) -> bool:
        """Add the user to the group; return once the group is active and lists the user.
        True if this call made the change (False: the user was a member already). The group
        is appended to `accepted` as soon as ElastiCache accepts the change: a deadline met
        while waiting for it to show must not lose it (a failure later undoes it).

        A group is one engine ACL keyed by user name: while `replacing` (the user this one
        replaces, with the same UserName) is a member, adding this one answers
        DuplicateUserName. Then both change in one call, this one added and that one removed,
        so that the group never lacks the name; such a group is appended to `swapped` too."""
        return self._change(
            user_id, group_id, deadline, joining=True, record=accepted, replacing=replacing, swapped=swapped
        )

    def leave(self, user_id: str, group_id: str, deadline: Deadline, accepted: list[str] | None = None) -> bool:
        """Remove the user from the group; a group without it (or gone) is already done.
        True if this call made the change; `accepted` as for `join`."""
        return self._change(user_id, group_id, deadline, joining=False, record=accepted)

    def _change(
        self,
        user_id: str,
        group_id: str,
        deadline: Deadline,
        *,
        joining: bool,
        record: list[str] | None = None,
        replacing: str | None = None,
        swapped: list[str] | None = None,
    ) -> bool:
        waiter = Waiter(self._schedule, deadline)
        accepted: float | None = None
        swap = False
        while True:
            group = self.settled(group_id, user_id, deadline)
            if group is None:
                if joining:
                    raise UserOperationError(
                        reason_for("ModifyUserGroup", "UserGroupNotFound", user=user_id, group=group_id)
                    )
                return accepted is not None
            if (user_id in group.get("UserIds", [])) == joining:
                return accepted is not None  # read back: the change holds (or was never needed)
            if accepted is not None and time.monotonic() - accepted < self._grace:
                logger.info("user group does not show the accepted change yet", extra={"user_group_id": group_id})
                waiter.pause()
                continue
            if accepted is not None:
                raise UserOperationError(
                    f"User group '{group_id}' accepted {'adding' if joining else 'removing'} user '{user_id}', but "
                    "once active it does not show the change. Check the group in ElastiCache, then retry."
                )
            arguments: dict[str, Any] = {"UserIdsToAdd" if joining else "UserIdsToRemove": [user_id]}
            if swap:
                arguments["UserIdsToRemove"] = [replacing]
            try:
                self._client.modify_user_group(UserGroupId=group_id, **arguments)
            except ClientError as error:
                code = error_code(error)
                if code == "DuplicateUserName" and not swap and replacing in group.get("UserIds", []):
                    logger.info("user name taken by the user it replaces: swapped", extra={"user_group_id": group_id})
                    swap = True
                    continue
                if code == "InvalidUserGroupState":
                    logger.info("user group busy, change retried", extra={"user_group_id": group_id})
                    waiter.pause()
                    continue
                if not joining and code == "InvalidParameterValue" and "not a member" in str(error):
                    return False  # another delivery removed it first: what was asked for holds
                raise api_error("ModifyUserGroup", user_id, error, group=group_id) from error
            accepted = time.monotonic()
            for records, made in ((record, True), (swapped, swap)):
                if made and records is not None and group_id not in records:
                    records.append(group_id)
            logger.info(
                "user group change accepted",
                extra={"user_group_id": group_id, "user_id": user_id, "change": "join" if joining else "leave"},
            )

    def wait_active(self, group_ids: Iterable[str], user_id: str, deadline: Deadline) -> None:
        """Wait until each group (that still exists) is active again."""
        for group_id in group_ids:
            self.settled(group_id, user_id, deadline)
