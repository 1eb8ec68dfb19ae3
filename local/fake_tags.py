"""Tagging and authorization in the stateful fake (see the fake's docstring for the behaviour
modelled): the three tagging calls, and each request judged by the caller's role policy
(local/iam_gate.py) with the resource tags the fake holds."""

from __future__ import annotations

from collections.abc import Callable

from local import iam_gate, iam_requests
from local.fake_state import ARN_PREFIX, GROUP_ARN_PREFIX, FakeGroup, FakeUser
from local.fake_wire import members, request_tags, tags_xml
from local.http_fake import ServiceError

TAGS_PER_RESOURCE = 50


class TaggingApi:
    """ListTagsForResource, AddTagsToResource, RemoveTagsFromResource and IAM, over the fake's state."""

    users: dict[str, FakeUser]
    groups: dict[str, FakeGroup]
    denied: set[tuple[str, str]]
    refused: dict[str, int]
    tag_busy_seconds: float
    clock: Callable[[], float]
    _user: Callable[..., FakeUser]

    def _authorize(self, action: str, params: dict[str, str], caller: str | None) -> None:
        """The caller's role policy, evaluated on the request (before anything is looked up, as
        IAM authorizes first); then `denied`."""
        try:
            iam_requests.authorize_all(caller, iam_requests.elasticache(action, params, self.tags_of))
            named = {(action, params.get("UserId", "")), (action, params.get("UserGroupId", ""))} & self.denied
            if caller is not None and named:
                target = named.pop()[1]
                arn = (GROUP_ARN_PREFIX if action.endswith("UserGroup") else ARN_PREFIX) + target
                raise iam_gate.AccessDenied(caller, "elasticache:" + action, arn, explicit=True)
        except iam_gate.AccessDenied as denied:
            self.refused["AccessDenied"] = self.refused.get("AccessDenied", 0) + 1
            raise ServiceError("AccessDenied", denied.message, 403) from denied

    def tags_of(self, arn: str) -> dict[str, str] | None:
        """The tags of the user or user group an ARN names, as IAM sees them (aws:ResourceTag/*)."""
        found: FakeUser | FakeGroup | None = None
        if arn.startswith(ARN_PREFIX):
            found = self.users.get(arn.removeprefix(ARN_PREFIX))
        elif arn.startswith(GROUP_ARN_PREFIX):
            found = self.groups.get(arn.removeprefix(GROUP_ARN_PREFIX))
        return dict(found.tags) if found is not None else None

    def _by_arn(self, params: dict[str, str], change: bool = False) -> FakeUser | FakeGroup:
        """The user or user group a tagging call names; a user is refused while it is not active,
        and (for a change) while an earlier tag change is still settling. A group's tags are
        read and written whatever its status (no report says otherwise)."""
        arn = params["ResourceName"]
        if arn.startswith(GROUP_ARN_PREFIX):
            group = self.groups.get(arn[len(GROUP_ARN_PREFIX) :])
            if group is None:
                raise ServiceError("UserGroupNotFound", f"User group {arn} not found.", 404)
            return group
        if not arn.startswith(ARN_PREFIX):
            raise ServiceError("InvalidARN", f"{arn} is not a user or user group ARN.")
        user = self._user(arn[len(ARN_PREFIX) :], read=True)
        if user.status != "active" or (change and self.clock() < user.tagging_busy_until):
            raise ServiceError("UserNotFound", f"{arn} is not available for tagging", 404)
        if change:
            user.tagging_busy_until = self.clock() + self.tag_busy_seconds
        return user

    def _ListTagsForResource(self, params: dict[str, str]) -> str:
        return tags_xml(self._by_arn(params).tags)

    def _AddTagsToResource(self, params: dict[str, str]) -> str:
        user = self._by_arn(params, change=True)
        tags = {**user.tags, **request_tags(params)}
        if len(tags) > TAGS_PER_RESOURCE:
            user.tagging_busy_until = 0.0
            raise ServiceError("TagQuotaPerResourceExceeded", "The request cannot be processed: tag quota exceeded.")
        user.tags = tags
        return tags_xml(user.tags)

    def _RemoveTagsFromResource(self, params: dict[str, str]) -> str:
        user = self._by_arn(params, change=True)
        keys = members(params, "TagKeys")
        missing = [key for key in keys if key not in user.tags]
        if missing:
            user.tagging_busy_until = 0.0
            raise ServiceError("TagNotFound", f"The tag {missing[0]} was not found.", 404)
        for key in keys:
            del user.tags[key]
        return tags_xml(user.tags)
