"""What an access-string check says: findings (token, message, whose rule it is) and the
analysis that collects them, quoted so that no message shows a password."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]
# "engine": the engine's own parser refuses it; "elasticache": ElastiCache refuses it although
# the engine would not; "advice": it works, but probably not as meant.
Source = Literal["engine", "elasticache", "advice"]
SHOWN = 40  # characters of a token quoted in a message


def masked(token: str) -> str:
    """`token` with any password in it cut to its marker: no message quotes a password."""
    parts = []
    for part in token.split(" "):
        bare = part.lstrip("(")
        parts.append(part[: len(part) - len(bare) + 1] + "…" if bare[:1] in ("<", ">", "#", "!") else part)
    return " ".join(parts)


@dataclass(frozen=True)
class Finding:
    position: int  # the token's number, from 1
    token: str
    message: str
    source: Source

    @property
    def severity(self) -> Severity:
        return "warning" if self.source == "advice" else "error"

    def describe(self) -> str:
        shown = self.token if len(self.token) <= SHOWN else self.token[: SHOWN - 3] + "..."
        where = f"token {self.position} '{shown}'" if self.position else "as a whole"
        return f"AccessString {where}: {self.message}"


@dataclass
class Analysis:
    findings: list[Finding] = field(default_factory=list)
    minimum_engine: str = "6.0"

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def engine_refuses(self) -> bool:
        """The verdict the engine's own parser gives (ElastiCache's extra rules left out)."""
        return any(f.source == "engine" for f in self.findings)

    def needs(self, version: str) -> None:
        if tuple(map(int, version.split("."))) > tuple(map(int, self.minimum_engine.split("."))):
            self.minimum_engine = version
