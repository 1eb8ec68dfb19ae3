"""What a user should look like, and the pure rules between two such descriptions: the
ModifyUser arguments that turn one into the other, tag changes, and ownership tags.

Nothing here calls AWS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from elasticache.limits import HOLD_TAG, OWNER_TAG_PREFIX, SECRET_TAG

if TYPE_CHECKING:
    from mypy_boto3_elasticache.type_defs import UserTypeDef

AuthenticationType = Literal["password", "iam", "no-password-required"]
# A NamedTuple's default is one object every instance shares: a mapping default is a read-only
# view, so that changing it fails instead of changing every instance's.
EMPTY: Mapping[str, Any] = MappingProxyType({})
# DescribeUsers' Authentication.Type values, as the properties name them.
DESCRIBED_AUTHENTICATION: dict[str, AuthenticationType] = {
    "password": "password",
    "iam": "iam",
    "no-password": "no-password-required",
}


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


def observed_spec(user: UserTypeDef) -> UserSpec:
    """What DescribeUsers says of a user, as a UserSpec (its passwords cannot be read)."""
    kind = str(user.get("Authentication", {}).get("Type", "password"))
    return UserSpec(
        user_id=user["UserId"],
        user_name=user.get("UserName", ""),
        engine=user.get("Engine", ""),
        access_string=user.get("AccessString", ""),
        authentication=DESCRIBED_AUTHENTICATION.get(kind, "password"),
    )


def modify_arguments(before: UserSpec | None, after: UserSpec, *, passwords_changed: bool) -> dict[str, Any]:
    """The ModifyUser arguments that turn `before` into `after` ({} when nothing differs).

    `before` None means unknown: everything is set. Passwords cannot be compared (ElastiCache
    never shows them), so the caller says whether they changed.
    """
    arguments: dict[str, Any] = {}
    if before is None or before.access_string != after.access_string:
        arguments["AccessString"] = after.access_string
    if (
        before is None
        or before.authentication != after.authentication
        or (passwords_changed and after.authentication == "password")
    ):
        arguments.update(after.authentication_arguments())
    if before is not None and before.engine != after.engine:
        arguments["Engine"] = after.engine
    return arguments


class TagChange(NamedTuple):
    """Tags to remove and to set, applied against the user's actual tags."""

    remove: tuple[str, ...] = ()
    set: Mapping[str, str] = EMPTY

    @classmethod
    def between(cls, old: Mapping[str, str], new: Mapping[str, str]) -> TagChange:
        """The change from one set of template tags to another (only keys that differ)."""
        return cls(tuple(k for k in old if k not in new), {k: v for k, v in new.items() if old.get(k) != v})

    def __bool__(self) -> bool:
        return bool(self.remove or self.set)


class Ownership:
    """The tags that mark a user as made (or adopted) by one owner, e.g. one stack resource."""

    def __init__(self, tags: Mapping[str, str]) -> None:
        self.tags = dict(tags)

    def owned_elsewhere(self, user_id: str, found: Mapping[str, str]) -> str | None:
        """Why a user that carries ownership tags of another owner cannot be adopted (None: it
        carries none). The provider's role may not rewrite ownership tags (IAM: TagNewUsers
        tags only users without a provider tag; TagOwnedUsers never touches reserved keys)."""
        if not any(k in found for k in self.tags):
            return None
        return (
            f"User '{user_id}' cannot be adopted: {self.describe_mismatch(found)}, and the role may not rewrite "
            "them (only untagged users are adopted). Remove it from its owner's stack, or choose another UserId."
        )

    @staticmethod
    def hold(user_id: str, found: Mapping[str, str]) -> str | None:
        """Why the user may not be changed when an operator holds it (its tags `found` carry
        HOLD_TAG, whose value says why), or None when it is not held."""
        if HOLD_TAG not in found:
            return None
        # CloudFormation shows 256 characters of a reason: the why is cut to leave room for the remedy.
        why = found[HOLD_TAG][:50]
        return f"User '{user_id}' is held ({HOLD_TAG}: '{why}'). Remove that tag to let it change, then retry."

    def untagged(self, found: Mapping[str, str]) -> bool:
        """True when `found` holds none of the ownership tags: a user no owner claims."""
        return not any(key in found for key in self.tags)

    def describe_mismatch(self, found: Mapping[str, str]) -> str | None:
        """Why `found` does not mark the user as ours, or None when it does."""
        differing = sorted(k for k, v in self.tags.items() if found.get(k) != v)
        if not differing:
            return None
        if all(k not in found for k in differing):
            return "it carries no ownership tags"
        # Named by their last part (provider, stack-id, logical-id): reasons must stay short.
        return "its ownership tags name another owner (" + ", ".join(k.rsplit(":", 1)[-1] for k in differing) + ")"


def tag_kinds(keys: Iterable[str]) -> list[list[str]]:
    """`keys` split into the template's tags, the secret binding and the ownership tags (in that
    order, each kind only if present)."""
    kinds: dict[int, list[str]] = {}
    for key in keys:
        kind = 1 if key == SECRET_TAG else 2 if key.startswith(OWNER_TAG_PREFIX) else 0
        kinds.setdefault(kind, []).append(key)
    return [kinds[kind] for kind in sorted(kinds)]
