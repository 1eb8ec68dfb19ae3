"""Which users and groups this provider may touch: the provider stack's parameters. Light on
purpose: the CDK library's synth-time checks load it, and it imports nothing beyond the
settings table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from runtime.environment import SETTING


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
    # REQUIRE_GROUP_CONSENT (RequireGroupConsent): a user joins a group only with its owner's
    # consent (elasticache/consent.py).
    require_group_consent: bool = True

    @classmethod
    def from_environment(cls) -> Scope:
        return cls(
            provider_id=SETTING["PROVIDER_ID"].text() or SETTING["PROVIDER_ID"].default,
            user_id_prefix=SETTING["USER_ID_PREFIX"].text().lower(),
            allow_adoption=SETTING["ALLOW_ADOPTION"].flag(),
            user_group_id_prefix=SETTING["USER_GROUP_ID_PREFIX"].text().lower(),
            require_group_consent=SETTING["REQUIRE_GROUP_CONSENT"].text().strip().lower() != "false",
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
