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


def from_json(value: object) -> PollWork | None:
    """A poll's state read back; None for nothing readable (the poll then only waits)."""
    if not isinstance(value, Mapping) or not value:
        return None
    if isinstance(value.get("remove"), str):
        return Removing(value["remove"], str(value.get("reason", "")))
    if "adopt" in value:
        return Deleting(bool(value["adopt"]), tuple(str(g) for g in value.get("groups") or ()))
    secret, failure = value.get("secret"), value.get("on_failure")
    work = Work(
        modify=dict(value.get("modify") or {}),
        tags=TagChange(tuple(value.get("remove_tags") or ()), dict(value.get("set_tags") or {})),
        secret=SecretReference(**secret) if isinstance(secret, Mapping) else None,
        join=tuple(value.get("join") or ()),
        leave=tuple(value.get("leave") or ()),
        replaces=str(value["replaces"]) if value.get("replaces") else None,
    )
    on_failure = None
    if isinstance(failure, Mapping) and isinstance(failure.get("answer"), str):
        on_failure = OnFailure(failure["answer"], bool(failure.get("remove")))
    joined, left, swapped = (tuple(str(g) for g in value.get(key) or ()) for key in ("joined", "left", "swapped"))
    return Converging(work, on_failure, joined, left, swapped)
