"""The settings the handler works with, read from the environment (`environment.py` names
each variable, its default and bounds)."""

from __future__ import annotations

from typing import NamedTuple

from runtime.deadline import PollSchedule
from runtime.environment import SETTING
from runtime.scope import Scope

# Seconds a poll stops short of the next one, so that two polls of one request never overlap.
POLL_OVERLAP_GUARD = 15


def _number(name: str) -> float:
    return SETTING[name].number()


def allowed_hosts() -> frozenset[str]:
    """RESPONSE_URL_ALLOWED_HOSTS: hosts besides AWS's S3 hosts a ResponseURL may point to."""
    hosts = SETTING["RESPONSE_URL_ALLOWED_HOSTS"].text()
    return frozenset(h.strip().lower() for h in hosts.split(",") if h.strip())


class Settings(NamedTuple):
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
    undo_seconds: float
    # Seconds after an accepted write during which "not found" is read-after-write lag.
    read_after_write_seconds: float
    # Which users this provider may touch (the provider stack's parameters).
    scope: Scope
    # Seconds a status CloudFormation does not show yet is read again (provenance.py).
    confirm_lag: float = float(SETTING["CONFIRM_LAG_SECONDS"].default)

    @property
    def poll_window(self) -> float:
        """Seconds one poll re-invocation may wait: short of the next poll, so they never overlap."""
        return self.poll_interval_minutes * 60 - POLL_OVERLAP_GUARD

    @classmethod
    def from_environment(cls) -> Settings:
        """Read the settings from os.environ."""
        return cls(
            response_url_allowed_hosts=allowed_hosts(),
            deadline_margin=_number("DEADLINE_MARGIN_SECONDS"),
            response_attempts=int(_number("RESPONSE_MAX_ATTEMPTS")),
            response_timeout=_number("RESPONSE_TIMEOUT_SECONDS"),
            poll_interval_minutes=int(_number("POLL_INTERVAL_MINUTES")),
            schedule=PollSchedule(
                initial=_number("POLL_INITIAL_SECONDS"),
                growth=_number("POLL_GROWTH"),
                maximum=_number("POLL_MAX_SECONDS"),
            ),
            undo_seconds=_number("UNDO_SECONDS"),
            read_after_write_seconds=_number("READ_AFTER_WRITE_SECONDS"),
            scope=Scope.from_environment(),
            confirm_lag=_number("CONFIRM_LAG_SECONDS"),
        )
