"""Time budget of one invocation, and the waiter that paces status checks within it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

from runtime.exceptions import DeadlineReached
from runtime.log import logger

T = TypeVar("T", bound=Mapping[str, Any])
# Statuses in which ElastiCache refuses changes to a user or group and settles by itself.
TRANSIENT_STATUSES = frozenset({"creating", "modifying"})


class Deadline:
    """A point in time, on the monotonic clock, by which the current invocation must stop waiting."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._at = clock() + seconds

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once it has passed)."""
        return self._at - self._clock()

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, or raise DeadlineReached if that would end after the deadline."""
        if seconds >= self.remaining():
            raise DeadlineReached(f"deadline reached while waiting {seconds:.2f} s more")
        self._sleep(seconds)


class PollSchedule(NamedTuple):
    """Intervals between status checks: short at first, growing to a ceiling.

    A short first interval lets a fast change be seen within a fraction of a second;
    the ceiling bounds both the detection lag and the call rate of a long wait.
    """

    initial: float
    growth: float
    maximum: float

    def intervals(self) -> Iterator[float]:
        """Yield the waits between consecutive checks, forever."""
        interval = self.initial
        while True:
            yield interval
            interval = min(self.maximum, interval * self.growth)


class Waiter:
    """Paces one wait: each `pause()` sleeps the schedule's next interval, or raises
    DeadlineReached when that sleep would pass the deadline."""

    def __init__(self, schedule: PollSchedule, deadline: Deadline) -> None:
        self._intervals = schedule.intervals()
        self.deadline = deadline
        self.pauses = 0

    def pause(self) -> int:
        """Sleep until the next check is due; returns how many pauses this wait has made."""
        self.deadline.sleep(next(self._intervals))
        self.pauses += 1
        return self.pauses

    def settled(self, read: Callable[[], T | None], what: str, keys: Mapping[str, str]) -> T | None:
        """`read()` again and again until what it returns is no longer creating or modifying
        (None: it does not exist); `what` and `keys` name it in the log."""
        current = read()
        while current is not None and current.get("Status") in TRANSIENT_STATUSES:
            check = self.pause()
            logger.debug(f"waiting for {what} to settle", extra={**keys, "check": check})
            current = read()
        return current
