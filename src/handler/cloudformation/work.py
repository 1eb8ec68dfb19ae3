"""The work a poll resumes: one typed state per kind of pending work, and its JSON form
(written and read here only, never holding a password).

A poll's state is `Converging` (a Create or Update still applying a `Work`), `Removing` (a
failed request's user still being deleted) or `Deleting` (a Delete waiting for the user and
its groups to settle). The JSON keys tell them apart: `remove` for Removing, `adopt` for
Deleting, the Work's keys otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from elasticache.limits import GROUPS_MAX, OWNER_TAG_PREFIX, SECRET_TAG, USER_TAGS_MAX
from elasticache.user_spec import EMPTY, TagChange
from rules.envelope import SecretReference


class Work(NamedTuple):
    """Changes still to apply to a user: ModifyUser arguments (passwords left out: they are
    filled in from the template or re-read from `secret`), tag changes, groups to join and
    groups to leave; `replaces`: the user a replacement replaces (it may hold the same
    UserName in a group to join: the two are swapped, see `GroupMembership.join`)."""

    modify: Mapping[str, Any] = EMPTY
    tags: TagChange = TagChange()
    secret: SecretReference | None = None
    join: tuple[str, ...] = ()
    leave: tuple[str, ...] = ()
    replaces: str | None = None

    @classmethod
    def of(
        cls,
        arguments: Mapping[str, Any],
        tags: TagChange,
        secret: SecretReference | None,
        join: tuple[str, ...] = (),
        leave: tuple[str, ...] = (),
    ) -> Work:
        modify = dict(arguments)
        if "AuthenticationMode" in modify:
            modify["AuthenticationMode"] = {"Type": modify["AuthenticationMode"]["Type"]}
        return cls(modify, tags, secret, join, leave)

    @property
    def needs_passwords(self) -> bool:
        return bool(self.modify.get("AuthenticationMode", {}).get("Type") == "password")

    def arguments(self, passwords: tuple[str, ...]) -> dict[str, Any]:
        """The ModifyUser arguments, with the passwords filled in."""
        if not self.needs_passwords:
            return dict(self.modify)
        return {**self.modify, "AuthenticationMode": {"Type": "password", "Passwords": list(passwords)}}


class OnFailure(NamedTuple):
    """How a failure of work on a user must be answered when the user's id is not the answer:
    `answer` is the physical id (the Create's impossible id, or an Update's own), and `remove`
    says the user was made by this request and is deleted first. Carried across a hand-over."""

    answer: str
    remove: bool


class Converging(NamedTuple):
    """A Create or Update applying `work`; a failure is answered as `on_failure` says, after
    undoing the group changes the request already made (`joined`, `left`: accepted by
    ElastiCache in earlier invocations)."""

    work: Work = Work()
    on_failure: OnFailure | None = None
    joined: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    swapped: tuple[str, ...] = ()  # of `joined`, those where the replaced user was swapped out


class Removing(NamedTuple):
    """The user a failed request made, still being deleted; then FAILED with `reason`."""

    user_id: str
    reason: str


class Deleting(NamedTuple):
    """A Delete waiting for the user to go, then for the groups it was in to settle."""

    adopt: bool = False
    groups: tuple[str, ...] = ()


PollWork = Converging | Removing | Deleting


def on_failure_of(state: PollWork | None) -> OnFailure | None:
    return state.on_failure if isinstance(state, Converging) else None


def as_json(state: PollWork | None) -> dict[str, Any]:
    """The JSON form of a poll's state (what EventBridge's rule Input carries)."""
    if isinstance(state, Removing):
        return {"remove": state.user_id, "reason": state.reason}
    if isinstance(state, Deleting):
        return {"adopt": state.adopt, "groups": list(state.groups)}
    if state is None:
        return {}
    work = state.work
    value: dict[str, Any] = {
        "modify": dict(work.modify),
        "remove_tags": list(work.tags.remove),
        "set_tags": dict(work.tags.set),
        "secret": work.secret._asdict() if work.secret else None,
        "join": list(work.join),
        "leave": list(work.leave),
    }
    if state.on_failure is not None:
        value["on_failure"] = state.on_failure._asdict()
    # Keys absent from the state of earlier versions are read as empty: only written when set.
    if state.joined or state.left:
        value["joined"], value["left"], value["swapped"] = list(state.joined), list(state.left), list(state.swapped)
    if work.replaces:
        value["replaces"] = work.replaces
    return value


class PollStateError(ValueError):
    """A poll's state that is not one this code writes; the message says what is wrong."""


# The keys of each kind, exactly as `as_json` writes them: anything else is refused whole.
REMOVING_KEYS = frozenset({"remove", "reason"})
DELETING_KEYS = frozenset({"adopt", "groups"})
CONVERGING_KEYS = frozenset(
    {"modify", "remove_tags", "set_tags", "secret", "join", "leave", "on_failure"}
    | {"joined", "left", "swapped", "replaces"}
)
# What `Work.of` keeps of ModifyUser's arguments (never Passwords), with each value's type.
MODIFY_KEYS: dict[str, type] = {
    "AccessString": str,
    "AuthenticationMode": dict,
    "NoPasswordRequired": bool,
    "Engine": str,
}
# ModifyUser's AuthenticationMode types a Work may carry; their passwords are read again.
MODIFY_AUTHENTICATION = frozenset({"password", "iam"})
SECRET_KINDS = frozenset({"secretsmanager", "ssm"})
# A poll's lists hold group ids from one template (UserGroupIds: at most GROUPS_MAX), tag keys
# from one template (at most USER_TAGS_MAX); anything longer is not a state this code wrote.
LIST_MAX = max(GROUPS_MAX, USER_TAGS_MAX)
TEXT_MAX = 8192  # EventBridge's limit on a target's whole Input: no string of a state is longer


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > TEXT_MAX:
        raise PollStateError(f"{what} is not a non-empty string")
    return value


def _texts(value: Mapping[str, Any], key: str) -> tuple[str, ...]:
    items = value.get(key, [])
    if not isinstance(items, list) or len(items) > LIST_MAX:
        raise PollStateError(f"'{key}' is not a list of at most {LIST_MAX} items")
    texts = tuple(_text(item, f"an item of '{key}'") for item in items)
    if len(set(texts)) != len(texts):
        raise PollStateError(f"'{key}' names an item twice")
    return texts


def _keys(value: Mapping[str, Any], allowed: frozenset[str], kind: str) -> None:
    unknown = sorted(str(k)[:40] for k in value if k not in allowed)
    if unknown:
        raise PollStateError(f"a {kind} state has no key {', '.join(repr(k) for k in unknown)}")


def _modify(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise PollStateError("'modify' is not an object")
    for key, item in value.items():
        if key not in MODIFY_KEYS or not isinstance(item, MODIFY_KEYS[key]):
            raise PollStateError(f"'modify' holds {str(key)[:40]!r}, which a poll never carries in that form")
    mode = value.get("AuthenticationMode")
    if mode is not None and (
        set(mode) != {"Type"} or not isinstance(mode["Type"], str) or mode["Type"] not in MODIFY_AUTHENTICATION
    ):
        raise PollStateError("'modify' holds an AuthenticationMode other than a bare password or iam Type")
    return dict(value)


def _tags(value: Mapping[str, Any]) -> TagChange:
    remove, set_tags = _texts(value, "remove_tags"), value.get("set_tags", {})
    if not isinstance(set_tags, Mapping) or len(set_tags) > USER_TAGS_MAX:
        raise PollStateError(f"'set_tags' is not an object of at most {USER_TAGS_MAX} tags")
    for key, item in set_tags.items():
        _text(key, "a key of 'set_tags'")
        if not isinstance(item, str):
            raise PollStateError("a value of 'set_tags' is not a string")
    # Only the template's tags and the secret binding change in a Work: never ownership or holds.
    reserved = sorted(k for k in (*remove, *set_tags) if k.startswith(OWNER_TAG_PREFIX) and k != SECRET_TAG)
    if reserved:
        raise PollStateError(f"it changes the reserved tag '{reserved[0][:80]}'")
    return TagChange(remove, dict(set_tags))


def _secret(value: object) -> SecretReference | None:
    if value is None:
        return None
    if (
        not isinstance(value, Mapping)
        or set(value) != {"kind", "name"}
        or not isinstance(value["kind"], str)
        or value["kind"] not in SECRET_KINDS
    ):
        raise PollStateError("'secret' is not a Secrets Manager or Parameter Store reference")
    return SecretReference(value["kind"], _text(value["name"], "the secret's name"))


def _on_failure(value: object) -> OnFailure | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"answer", "remove"} or not isinstance(value["remove"], bool):
        raise PollStateError("'on_failure' is not an answer and a remove flag")
    return OnFailure(_text(value["answer"], "the failure's answer"), value["remove"])


def _converging(value: Mapping[str, Any]) -> Converging:
    _keys(value, CONVERGING_KEYS, "converging")
    replaces = value.get("replaces")
    work = Work(
        modify=_modify(value.get("modify", {})),
        tags=_tags(value),
        secret=_secret(value.get("secret")),
        join=_texts(value, "join"),
        leave=_texts(value, "leave"),
        replaces=None if replaces is None else _text(replaces, "'replaces'"),
    )
    joined, left, swapped = (_texts(value, key) for key in ("joined", "left", "swapped"))
    if set(work.join) & set(work.leave) or set(joined) & set(left):
        raise PollStateError("it both joins and leaves one group")
    if not set(swapped) <= set(joined) or (swapped and work.replaces is None):
        raise PollStateError("'swapped' names a group it did not join in place of the user it replaces")
    return Converging(work, _on_failure(value.get("on_failure")), joined, left, swapped)


def from_json(value: object) -> PollWork | None:
    """A poll's state read back, exactly as `as_json` writes it; None for no state (the poll then
    only waits). PollStateError for anything else: an edited poll is refused whole."""
    if value is None or (isinstance(value, Mapping) and not value):
        return None
    if not isinstance(value, Mapping):
        raise PollStateError("it is not an object")
    if "remove" in value:
        _keys(value, REMOVING_KEYS, "removing")
        return Removing(_text(value["remove"], "'remove'"), _text(value.get("reason"), "'reason'"))
    if "adopt" in value:
        _keys(value, DELETING_KEYS, "deleting")
        if not isinstance(value["adopt"], bool):
            raise PollStateError("'adopt' is not true or false")
        return Deleting(value["adopt"], _texts(value, "groups"))
    return _converging(value)
