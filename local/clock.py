"""A clock a test moves by hand: for the fake's timers and the handler's Deadline, so that a
test that needs time to pass does not sleep (and does not depend on an idle machine)."""

from __future__ import annotations


class ManualClock:
    """Reads like time.monotonic; `advance` (also usable as a Deadline's sleep) moves it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
