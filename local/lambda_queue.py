"""Lambda's asynchronous invocation, as the Lambda developer guide describes it ("How Lambda
handles errors and retries with asynchronous invocation"): CloudFormation and EventBridge invoke
a function asynchronously, so each event waits in the function's queue. With reserved
concurrency N at most N invocations run at once; an event that finds no free slot is throttled
(429), "Lambda returns the event to the queue and attempts to run the function again for up to
6 hours by default. The retry interval increases exponentially from 1 second after the first
attempt to a maximum of 5 minutes."

The guide gives no jitter. Events CloudFormation sends together would then retry together, and
only N of them could take the slots freed in the meantime (a model of 500 events at N = 20
took 94 min so against 7 min with jitter): each interval here is drawn from its upper half
(0.5x-1x), which is kinder than Lambda's own ("If the queue contains many entries, Lambda
increases the retry interval"), so a wave's time here is a lower bound. An event is kept for
the function's MaximumEventAgeInSeconds (template.yaml: 3600, Lambda's default 6 hours), then
dropped (to the failure notifier, which answers FAILED): counted in `expired`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

FIRST_RETRY = 1.0
LONGEST_RETRY = 300.0
MAXIMUM_EVENT_AGE = 3600.0  # template.yaml's EventInvokeConfig


class LambdaQueue:
    """One function's asynchronous queue: `submit` an event, `idle` once every event ran or expired.

    `concurrency` None: unreserved (every event runs at once, as far as the account's 1,000
    concurrent executions go)."""

    def __init__(self, run: Callable[[dict[str, Any]], None], concurrency: int | None) -> None:
        self._run = run
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency) if concurrency else None
        self._lock = threading.Lock()
        self._pending = 0
        self.throttled = 0  # invocations Lambda throttled (the event went back to the queue)
        self.expired = 0  # events dropped after MAXIMUM_EVENT_AGE
        self.threads: list[threading.Thread] = []

    def submit(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._pending += 1
        thread = threading.Thread(target=self._deliver, args=(event,), daemon=True)
        self.threads.append(thread)
        thread.start()

    def _deliver(self, event: dict[str, Any]) -> None:
        queued, interval = time.monotonic(), FIRST_RETRY
        try:
            while self._slots is not None and not self._slots.acquire(blocking=False):
                with self._lock:
                    self.throttled += 1
                wait = interval * random.uniform(0.5, 1.0)
                if time.monotonic() + wait - queued > MAXIMUM_EVENT_AGE:
                    with self._lock:
                        self.expired += 1
                    return
                time.sleep(wait)
                interval = min(LONGEST_RETRY, interval * 2)
            try:
                self._run(event)
            finally:
                if self._slots is not None:
                    self._slots.release()
        finally:
            with self._lock:
                self._pending -= 1

    def idle(self) -> bool:
        with self._lock:
            return self._pending == 0
