"""One ElastiCache client's pacing by the throttling it meets: shared-nothing, so that many
invocations at once (a stack of 500 users, each request its own invocation) slow down together
without talking to each other.

ElastiCache publishes no request rate; throttling is the only signal. botocore's adaptive retry
mode paces a client too, but never below 0.5 requests a second (`botocore/retries/bucket.py`,
`_MIN_RATE`): 500 clients at that floor still send 250 a second, 12x a 20 req/s account.
Here a throttled call sets a pause (THROTTLE_PAUSE_SECONDS) between this client's attempts,
doubled at each further throttle up to 4x, halving for every minute without one; every attempt
waits its pause, jittered by 0.5x-1.5x so that clients throttled together do not come back
together. Measured in `make bench` (bench/stack.py, 500 users at 20 req/s): the pause is what
keeps throttled calls per user at the target (at most 2), where botocore's pacing alone let
12.9 of 16.5 calls per Create be throttled.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

# The pause grows to at most 4x the first: 2 more throttles in a row.
GROWTH_LIMIT = 4.0
# Seconds over which a pause halves without a throttle: a wave of creations lasts minutes.
HALF_LIFE = 60.0


class Pacing:
    """The pause one client keeps between attempts, learnt from the throttles it met."""

    def __init__(self, first: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.first = first
        self._clock = clock
        self._pause = 0.0
        self._throttled_at = 0.0
        self._last = float("-inf")
        self._lock = threading.Lock()

    def _current(self, now: float) -> float:
        if not self._pause:
            return 0.0
        return self._pause * float(0.5 ** ((now - self._throttled_at) / HALF_LIFE))

    def throttled(self) -> None:
        """A call of this client was throttled: pause longer."""
        with self._lock:
            now = self._clock()
            self._pause = min(self.first * GROWTH_LIMIT, max(self.first, 2 * self._current(now)))
            self._throttled_at = now

    def wait(self) -> float:
        """Seconds until this client's next attempt is due (0: now); the attempt is then counted
        as sent at that time."""
        with self._lock:
            now = self._clock()
            due = max(now, self._last + self._current(now) * random.uniform(0.5, 1.5))
            self._last = due
            return due - now
