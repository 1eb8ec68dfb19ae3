"""The changes still to apply to a user, and their form in a poll's state (JSON, no password)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from properties import SecretReference
from user_spec import TagChange


@dataclass(frozen=True)
class Work:
    """Changes still to apply to a user: ModifyUser arguments (passwords left out: they are
    filled in from the template or re-read from `secret`), tag changes, groups to join and
    groups to leave."""

    modify: Mapping[str, Any] = field(default_factory=dict)
    tags: TagChange = field(default_factory=TagChange)
    secret: SecretReference | None = None
    join: tuple[str, ...] = ()
    leave: tuple[str, ...] = ()

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

    def as_resume(self) -> dict[str, Any]:
        return {
            "modify": dict(self.modify),
            "remove_tags": list(self.tags.remove),
            "set_tags": dict(self.tags.set),
            "secret": dataclasses.asdict(self.secret) if self.secret else None,
            "join": list(self.join),
            "leave": list(self.leave),
        }

    @classmethod
    def from_resume(cls, resume: Mapping[str, Any]) -> Work:
        secret = resume.get("secret")
        return cls(
            modify=dict(resume.get("modify") or {}),
            tags=TagChange(tuple(resume.get("remove_tags") or ()), dict(resume.get("set_tags") or {})),
            secret=SecretReference(**secret) if isinstance(secret, Mapping) else None,
            join=tuple(resume.get("join") or ()),
            leave=tuple(resume.get("leave") or ()),
        )
