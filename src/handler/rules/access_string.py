"""Access strings: the engine's `ACL SETUSER` grammar and ElastiCache's own rules, pure (tokens
in, findings out), so that the handler refuses a broken string before any API call and lint
rule E9101 reports it on the template's line.

The grammar is the engine's, as Redis 7.0's parser judges it (tests/test_access_string.py
compares every verdict with a real `redis-server` on thousands of generated strings):
- the string is split on spaces; a token starting with `(` opens a selector that runs to the
  first token ending with `)` ("Unmatched parenthesis" otherwise);
- `on`, `off`, `allkeys`, `resetkeys`, `allchannels`, `resetchannels`, `allcommands`,
  `nocommands`, `clearselectors`, `[skip-]sanitize-payload`, `nopass`, `resetpass`, `reset`
  (any case); `>p`, `<p`, `#hash`, `!hash` (hashes: 64 lowercase hex digits);
- `~pattern`, `%R~`, `%W~`, `%RW~` (each flag once, any case, at least one); `&pattern`; a key
  or channel pattern after `~*`/`allkeys` (`&*`/`allchannels`) is refused until a reset;
- `+cmd`, `-cmd`, `+@category`, `-@category`, `+cmd|sub` (a listed subcommand, or any first
  argument of a command that has none: `+select|0`), `-cmd|sub` (listed subcommands only);
  command and category names from the engine's own table (engine_commands.json);
- inside a selector only key, channel and command rules (and their all/reset keywords), split
  again as the engine's argument splitter does (`engine_split.py`: tabs and line breaks
  separate, quotes group); a tab or line break in a top-level rule is refused.

ElastiCache's rules on top (RBAC guide): no passwords in the string ("You can't specify
passwords in an access string"), no `nopass`, `resetpass` or `reset` (the passwords are
ElastiCache's to set), no restricted commands (node-based clusters refuse them: "an
exception will be thrown"); and no control characters (the engine would read a
NUL as the end of the rule). Advice (lint warnings only): a string with neither `on` nor
`off` makes an `off` user; `+@all`/`allcommands` without a later `-@dangerous`; ACL write
subcommands, which ElastiCache does not let users run.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from rules.access_findings import SHOWN, Analysis, Finding, Source, masked
from rules.engine_split import split_args

# Node-based clusters refuse these commands (ElastiCache: "Restricted Redis OSS commands").
RESTRICTED = frozenset(
    {"bgrewriteaof", "bgsave", "config", "debug", "migrate", "replicaof", "save", "slaveof", "shutdown", "sync"}
)
ACL_WRITES = frozenset({"setuser", "deluser", "load", "save", "dryrun"})
KEYWORDS_ANYWHERE = frozenset({"allkeys", "resetkeys", "allchannels", "resetchannels", "allcommands", "nocommands"})
KEYWORDS_ROOT = frozenset({"on", "off", "clearselectors", "sanitize-payload", "skip-sanitize-payload"})
PASSWORD_KEYWORDS = frozenset({"nopass", "resetpass", "reset"})
HEX = frozenset("0123456789abcdef")
WHITESPACE = frozenset(" \t\n\r\v\f")  # a space only from quotes in a selector


@functools.cache
def engine_table() -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """The engine's ACL categories and commands (with their subcommands), from the table
    `python -m local.engine table` printed (a test keeps it equal to the engine's)."""
    table = json.loads((Path(__file__).with_name("engine_commands.json")).read_text())
    # ACL CAT lists the categories; `all` (+@all, -@all) is the engine's own on top.
    return frozenset([*table["categories"], "all"]), {k: frozenset(v) for k, v in table["commands"].items()}


@dataclass
class _Keys:
    """What the engine remembers while it applies rules: the refusals that depend on order."""

    all_keys: bool = False
    all_channels: bool = False


class _Parser:
    def __init__(self) -> None:
        self.result = Analysis()
        self.passwords: set[str] = set()  # hashes the string added (so a later `<p`/`!h` is valid)
        self.switched = False
        self.all_commands_at = 0  # position of the last +@all / allcommands not yet followed by -@dangerous

    def add(self, position: int, token: str, message: str, source: Source) -> None:
        self.result.findings.append(Finding(position, masked(token), message, source))

    def run(self, text: str) -> Analysis:
        tokens = [t for t in text.split(" ") if t]
        merged = self.merge(tokens)
        if merged is None:
            return self.result
        root = _Keys()
        for position, token in merged:
            if token.startswith("(") and token.endswith(")"):
                self.selector(position, token)
            else:
                self.rule(position, token, root, in_selector=False)
        self.advise(tokens)
        return self.result

    def merge(self, tokens: list[str]) -> list[tuple[int, str]] | None:
        """Selectors joined into one rule each, as the engine joins them: a token opening a
        selector runs to the next token that ends with ')'; a token opening another selector
        before that starts it afresh (the engine drops the first). None: one is never closed."""
        merged: list[tuple[int, str]] = []
        partial: tuple[int, str] | None = None
        for position, token in enumerate(tokens, 1):
            if token.startswith("(") and not token.endswith(")"):
                if partial is not None:
                    self.add(
                        partial[0],
                        partial[1],
                        f"this selector is dropped by the engine: token {position} "
                        "opens another before it is closed with ')'.",
                        "advice",
                    )
                partial = (position, token)
            elif partial is not None:
                partial = (partial[0], f"{partial[1]} {token}")
                if token.endswith(")"):
                    merged.append(partial)
                    partial = None
            else:
                merged.append((position, token))
        if partial is not None:
            self.add(partial[0], partial[1].split(" ")[0], "this selector is never closed: end it with ')'.", "engine")
            return None
        return merged

    def selector(self, position: int, token: str) -> None:
        self.result.needs("7.0")
        keys, inside = _Keys(), token[1:-1]
        if any(ord(c) < 32 or ord(c) == 127 for c in inside):
            # The engine splits a selector on tabs and line breaks too; ElastiCache has no use for them.
            self.add(position, token, "holds a control character.", "elasticache")
        rules = split_args(inside)
        if rules is None:
            self.add(
                position,
                token,
                "its quotes are malformed, so the engine keeps the selector empty: it grants "
                "nothing. Remove the quotes.",
                "advice",
            )
            return
        if set(inside) & set("\"'\\"):
            self.add(
                position,
                token,
                "the engine reads quotes and backslashes inside a selector as quoting "
                f"(it holds {' '.join(rules) or 'no rule'}); write the rules without them.",
                "advice",
            )
        for inner in rules:
            self.rule(position, inner, keys, in_selector=True, shown=token)

    def rule(self, position: int, token: str, keys: _Keys, *, in_selector: bool, shown: str = "") -> None:
        shown = shown or token
        if not token or any(c in WHITESPACE for c in token):
            self.add(
                position, shown, "holds white space or an empty rule; rules are separated by single spaces.", "engine"
            )
            return
        if any(ord(c) < 32 or ord(c) == 127 for c in token):
            # The engine's C parser reads up to a NUL; ElastiCache has no use for control characters.
            self.add(position, shown, "holds a control character.", "elasticache")
            return
        lower = token.lower()
        first = token[0]
        if lower in KEYWORDS_ANYWHERE:
            self.keyword(lower, keys, position)
        elif first in "~%":
            self.key_pattern(position, shown, token, keys)
        elif first == "&":
            self.result.needs("6.2")
            if token[1:] == "*":
                keys.all_channels = True
            elif keys.all_channels:
                self.add(
                    position,
                    shown,
                    "a channel pattern after '&*' or 'allchannels' has no effect and is "
                    "refused; use 'resetchannels' first, or drop it.",
                    "engine",
                )
        elif first in "+-":
            self.command(position, shown, token)
        elif in_selector:
            self.add(
                position,
                shown,
                f"'{token[:SHOWN]}' is not allowed in a selector, which takes only key, channel and command rules.",
                "engine",
            )
        elif lower in KEYWORDS_ROOT:
            self.switched = self.switched or lower in ("on", "off")
            if lower == "clearselectors":
                self.result.needs("7.0")
        elif lower in PASSWORD_KEYWORDS or first in "><#!":
            self.password(position, token, lower)
            if lower == "reset":
                keys.all_keys = keys.all_channels = False
        else:
            self.add(
                position,
                shown,
                "not an ACL rule (rules are on/off, ~keys, %R~keys, &channels, +command, "
                "-command, +@category, -@category, allkeys, allcommands, ... and selectors '( ... )').",
                "engine",
            )

    def keyword(self, lower: str, keys: _Keys, position: int) -> None:
        if lower in ("allkeys", "resetkeys"):
            keys.all_keys = lower == "allkeys"
        elif lower in ("allchannels", "resetchannels"):
            self.result.needs("6.2")
            keys.all_channels = lower == "allchannels"
        elif lower in ("allcommands", "nocommands"):
            self.all_commands_at = position if lower == "allcommands" else 0

    def key_pattern(self, position: int, shown: str, token: str, keys: _Keys) -> None:
        if token[0] == "%":
            self.result.needs("7.0")
            flags, rest = "", token[1:]
            while rest and rest[0] != "~":
                if rest[0].upper() not in "RW" or rest[0].upper() in flags:
                    self.add(
                        position,
                        shown,
                        "a key permission is %R~, %W~ or %RW~ followed by a pattern (each of R and W at most once).",
                        "engine",
                    )
                    return
                flags, rest = flags + rest[0].upper(), rest[1:]
            if not flags:
                self.add(position, shown, "a key permission names R, W or both before '~' (%R~, %W~, %RW~).", "engine")
                return
        elif token == "~*":  # noqa: S105 - the all-keys pattern, not a password
            keys.all_keys = True
            return
        if keys.all_keys:
            self.add(
                position,
                shown,
                "a key pattern after '~*' or 'allkeys' has no effect and is refused; use "
                "'resetkeys' first, or drop it.",
                "engine",
            )

    def command(self, position: int, shown: str, token: str) -> None:
        categories, commands = engine_table()
        sign, body = token[0], token[1:]
        if body.startswith("@"):
            category = body[1:].lower()
            if category not in categories:
                self.add(
                    position,
                    shown,
                    f"'@{body[1:][:SHOWN]}' is not an ACL category (the categories: {', '.join(sorted(categories))}).",
                    "engine",
                )
            elif category == "all":
                self.all_commands_at = position if sign == "+" else 0
            elif category == "dangerous" and sign == "-":
                self.all_commands_at = 0
            return
        name, *subs = body.split("|")
        name = name.lower()
        if name not in commands:
            self.add(position, shown, f"'{name[:SHOWN]}' is not a command the engine knows.", "engine")
            return
        if sign == "+" and name in RESTRICTED:
            self.add(
                position, shown, f"ElastiCache restricts the '{name}' command: it cannot be granted.", "elasticache"
            )
        if not subs:
            if sign == "+" and name == "acl":
                self.add(
                    position,
                    shown,
                    "grants ACL SETUSER, DELUSER, LOAD and SAVE, which ElastiCache does not let "
                    "users run; grant the subcommands needed instead (e.g. +acl|whoami).",
                    "advice",
                )
            return
        if "" in subs:
            self.add(position, shown, "a '|' must be followed by a subcommand or first argument.", "engine")
        elif len(subs) > 1:
            self.add(position, shown, "only one '|subcommand' may follow a command.", "engine")
        elif commands[name] and subs[0].lower() not in commands[name]:
            self.add(
                position,
                shown,
                f"'{subs[0][:SHOWN]}' is not a subcommand of '{name}' (its subcommands: "
                f"{', '.join(sorted(commands[name]))}).",
                "engine",
            )
        elif not commands[name] and sign == "-":
            self.add(
                position,
                shown,
                f"'{name}' has no subcommands, and a first argument can only be granted (+cmd|arg), not removed.",
                "engine",
            )
        else:
            if sign == "-":
                self.result.needs("7.0")
            if sign == "+" and name == "acl" and subs[0].lower() in ACL_WRITES:
                self.add(position, shown, f"ElastiCache does not let users run ACL {subs[0].upper()}.", "advice")

    def password(self, position: int, token: str, lower: str) -> None:
        import hashlib  # only strings that hold a password need it (3 ms of cold start)

        self.add(
            position,
            token,
            "ElastiCache sets a user's passwords itself: an access string holds no passwords, nopass, "
            "resetpass or reset. Use Passwords, PasswordSecretId or NoPasswordRequired.",
            "elasticache",
        )
        # What the engine alone would say (the differential test compares it).
        value = token[1:]
        if lower == "reset" or lower == "resetpass":
            self.passwords.clear()
        elif token[0] == ">":
            self.passwords.add(hashlib.sha256(value.encode()).hexdigest())
        elif token[0] in "#!" and (len(value) != 64 or not set(value) <= HEX):
            self.add(position, token, "a password hash is 64 lowercase hexadecimal digits.", "engine")
        elif token[0] == "#":
            self.passwords.add(value)
        elif token[0] in "<!":
            digest = hashlib.sha256(value.encode()).hexdigest() if token[0] == "<" else value
            if digest not in self.passwords:
                self.add(position, token, "removes a password the user does not have.", "engine")
            self.passwords.discard(digest)

    def advise(self, tokens: list[str]) -> None:
        if not self.switched:
            self.add(
                0,
                "",
                "neither 'on' nor 'off': ElastiCache makes the user 'off', so it cannot connect. Add "
                "'on' (or 'off' to say so).",
                "advice",
            )
        if self.all_commands_at:
            self.add(
                self.all_commands_at,
                tokens[self.all_commands_at - 1] if self.all_commands_at <= len(tokens) else "",
                "grants every command, the dangerous ones too (FLUSHALL, KEYS, ...); add -@dangerous "
                "after it unless the user administers the cache.",
                "advice",
            )


def analyse(access_string: str) -> Analysis:
    """Every finding in an access string, and the oldest engine version that accepts it."""
    return _Parser().run(access_string)
