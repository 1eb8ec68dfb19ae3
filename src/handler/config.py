"""Settings read from environment variables, each with a safe default (listed in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from deadline import PollSchedule
from request import Scope


def _float(name: str, default: float, low: float, high: float) -> float:
    """A float setting, clamped to [low, high]; an unreadable value falls back to the default."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return min(high, max(low, value))


def allowed_hosts() -> frozenset[str]:
    """RESPONSE_URL_ALLOWED_HOSTS: hosts besides AWS's S3 hosts a ResponseURL may point to."""
    hosts = os.environ.get("RESPONSE_URL_ALLOWED_HOSTS", "")
    return frozenset(h.strip().lower() for h in hosts.split(",") if h.strip())


@dataclass(frozen=True)
class Settings:
    """Everything the handler reads from its environment."""

    # Extra hosts (beyond AWS's S3 hosts) a ResponseURL may point to: local runs and tests.
    response_url_allowed_hosts: frozenset[str]
    # Seconds kept free before the Lambda deadline to send the answer or hand over.
    deadline_margin: float
    # How many times, at most, the answer is PUT before giving up with a log line.
    response_attempts: int
    # Seconds one response PUT may take.
    response_timeout: float
    # Minutes between crhelper's poll re-invocations after a hand-over (EventBridge minimum: 1).
    poll_interval_minutes: int
    # Status checks while waiting: first interval, growth factor, ceiling (seconds).
    schedule: PollSchedule
    # Seconds kept, out of the work's budget, to undo a failed request's changes.
    undo_seconds: float = 30.0
    # Seconds after an accepted write during which "not found" is read-after-write lag.
    read_after_write_seconds: float = 10.0
    # Which users this provider may touch (the provider stack's parameters).
    scope: Scope = field(default_factory=Scope)

    @property
    def poll_window(self) -> float:
        """Seconds one poll re-invocation may wait: short of the next poll, so they never overlap."""
        return self.poll_interval_minutes * 60 - 15

    @classmethod
    def from_environment(cls) -> Settings:
        """Read the settings from os.environ."""
        return cls(
            response_url_allowed_hosts=allowed_hosts(),
            deadline_margin=_float("DEADLINE_MARGIN_SECONDS", 10.0, 2.0, 120.0),
            response_attempts=int(_float("RESPONSE_MAX_ATTEMPTS", 5, 1, 20)),
            response_timeout=_float("RESPONSE_TIMEOUT_SECONDS", 5.0, 0.5, 30.0),
            poll_interval_minutes=int(_float("POLL_INTERVAL_MINUTES", 1, 1, 60)),
            schedule=PollSchedule(
                initial=_float("POLL_INITIAL_SECONDS", 0.5, 0.05, 30.0),
                growth=_float("POLL_GROWTH", 1.25, 1.0, 4.0),
                maximum=_float("POLL_MAX_SECONDS", 2.0, 0.05, 60.0),
            ),
            undo_seconds=_float("UNDO_SECONDS", 30.0, 0.0, 300.0),
            read_after_write_seconds=_float("READ_AFTER_WRITE_SECONDS", 10.0, 0.0, 120.0),
            scope=Scope.from_environment(),
        )
