"""User groups in the stateful fake (see the fake's docstring for the behaviour modelled)."""

from __future__ import annotations

from collections.abc import Callable

from local.fake_state import FakeGroup, FakeUser
from local.fake_wire import group_xml, members, paged, request_tags
from local.http_fake import ServiceError


class UserGroupsApi:
    """CreateUserGroup, DescribeUserGroups and ModifyUserGroup, over the fake's state."""

    groups: dict[str, FakeGroup]
    users: dict[str, FakeUser]
    group_modify_seconds: float
    read_lag_seconds: float
    clock: Callable[[], float]
    _user: Callable[[str], FakeUser]

    def _group(self, group_id: str) -> FakeGroup:
        group = self.groups.get(group_id.lower())
        if group is None:
            raise ServiceError("UserGroupNotFound", f"User group {group_id} not found.", 404)
        return group

    def _CreateUserGroup(self, params: dict[str, str]) -> str:
        """A group with its owner's Tags (botocore model: CreateUserGroup takes Tags), `creating`
        for `group_modify_seconds`; its UserIds must exist and include a user named default."""
        group_id = params["UserGroupId"].lower()
        if group_id in self.groups:
            raise ServiceError("UserGroupAlreadyExists", f"User group {group_id} already exists.")
        user_ids = members(params, "UserIds")
        names = [self._user(u).user_name for u in user_ids]
        if "default" not in names:
            raise ServiceError("DefaultUserRequired", f"User group {group_id} needs a user named default.")
        if len(names) != len(set(names)):
            raise ServiceError("DuplicateUserName", "A user with this username already exists.")
        group = FakeGroup(group_id, params.get("Engine", "redis").lower(), user_ids, tags=request_tags(params))
        group.status, group.settle_at = "creating", self.clock() + self.group_modify_seconds
        self.groups[group_id] = group
        for user_id in user_ids:
            self.users[user_id].user_group_ids.append(group_id)
        return group_xml(group)

    def _DescribeUserGroups(self, params: dict[str, str]) -> str:
        marker = ""
        if "UserGroupId" in params:
            groups = [self._group(params["UserGroupId"])]
        else:
            groups, marker = paged(sorted(self.groups.values(), key=lambda g: g.group_id), params)
        now = self.clock()
        shown = [g.stale_xml if now < g.stale_until else group_xml(g) for g in groups]
        return "<UserGroups>" + "".join(f"<member>{xml}</member>" for xml in shown) + "</UserGroups>" + marker

    def _ModifyUserGroup(self, params: dict[str, str]) -> str:
        group = self._group(params["UserGroupId"])
        if group.status != "active":
            raise ServiceError(
                "InvalidUserGroupState",
                f"User group {group.group_id} has status {group.status}. Only active user groups can be modified.",
            )
        adding, removing = members(params, "UserIdsToAdd"), members(params, "UserIdsToRemove")
        for user_id in removing:
            if user_id not in group.user_ids:
                raise ServiceError("InvalidParameterValue", f"{user_id} is not a member of user group {group.group_id}")
        for user_id in adding:
            user = self._user(user_id)
            if group.engine == "valkey" and user.authentication_type == "no-password":
                raise ServiceError(
                    "InvalidParameterValue",
                    f"User {user_id} has no password: a valkey user group takes only password or IAM users.",
                )
        kept = [u for u in group.user_ids if u not in removing] + adding
        names = [self.users[u].user_name for u in kept if u in self.users]
        if len(names) != len(set(names)):
            # One engine ACL per group, keyed by user name (botocore model: DuplicateUserNameFault).
            raise ServiceError("DuplicateUserName", "A user with this username already exists.")
        if not any(self.users[u].user_name == "default" for u in kept if u in self.users):
            raise ServiceError("DefaultUserRequired", f"User group {group.group_id} needs a user named default.")
        if self.read_lag_seconds:
            group.stale_xml, group.stale_until = group_xml(group), self.clock() + self.read_lag_seconds
        group.status, group.adding, group.removing = "modifying", adding, removing
        group.settle_at = self.clock() + self.group_modify_seconds
        return group_xml(group)
