"""Access strings and passwords in the stateful fake: ElastiCache's own rules first, then the
real engine's parser (local/engine.py); every user is mirrored onto the engine, so that
`AUTH user password` shows which passwords really work and DescribeUsers reports the access
string in the engine's canonical form, as ElastiCache does (`*off* +get ~keys*` comes back
as `off ~keys* -@all +get`)."""

from __future__ import annotations

from local.engine import Engine
from local.fake_state import FakeUser
from local.http_fake import ServiceError
from rules.access_string import RESTRICTED


class EngineMirror:
    """What the fake does with access strings and passwords; `engine` None: counted only."""

    engine: Engine | None

    def checked_rules(self, access_string: str) -> list[str]:
        """The access string's rules, or ServiceError InvalidParameterValue as ElastiCache answers."""
        rules = [rule for rule in access_string.split(" ") if rule]
        for rule in rules:
            if rule.lower() in ("nopass", "resetpass", "reset") or rule[:1] in ("<", ">", "#", "!"):
                raise ServiceError("InvalidParameterValue", "Passwords cannot be specified in an access string.")
            if rule[:1] == "+" and rule[1:].split("|")[0].lower() in RESTRICTED:
                raise ServiceError("InvalidParameterValue", f"Access string contains a restricted command: {rule}")
        refusal = self.engine.refusal(rules) if self.engine else None
        if refusal:
            raise ServiceError("InvalidParameterValue", f"Invalid access string: {refusal}")
        return rules

    def mirror(self, user: FakeUser) -> None:
        """Make the engine's user what the fake's user is (its `default` users stay the engine's)."""
        if self.engine is None or user.user_name == "default":
            return
        rules = [rule for rule in user.access_string.split(" ") if rule]
        passwords = user.passwords if user.authentication_type == "password" else []
        self.engine.set_user(user.user_name, rules, passwords, no_password=user.authentication_type == "no-password")
        user.reported_access_string = self.engine.canonical(user.user_name)

    def unmirror(self, user: FakeUser) -> None:
        if self.engine is not None and user.user_name != "default":
            self.engine.delete_user(user.user_name)
