"""AWS clients (ElastiCache, CloudFormation, EventBridge, Lambda, Secrets Manager, SSM): timeouts and retries
fitted to the time the invocation has left.

botocore would retry a call up to its attempt limit whatever the deadline, each attempt
bounded only by its socket timeouts, and would give up on throttling that outlasts its
attempts however much time is left. Two hooks change that: no attempt starts, and no retry
sleeps, once the current deadline has passed, so a call ends at most one attempt
(connect + read timeout) after the deadline; and throttling or a connection failure past
botocore's attempts is retried with backoff while time is left (a busy API is no reason to
fail: measured, 200 concurrent deletes against 100 requests/s otherwise failed some). Both
timeouts are derived from the deadline margin so that one attempt always fits inside it.
"""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
import botocore.session
from botocore.config import Config

from runtime.deadline import Deadline
from runtime.environment import SETTING
from runtime.exceptions import THROTTLING_CODES, DeadlineReached
from runtime.pacing import Pacing

if TYPE_CHECKING:
    from mypy_boto3_elasticache.client import ElastiCacheClient

# 4 attempts: botocore's backoff before the 2nd, 3rd and 4th is at most 1, 2 and 4 s
# (throttling base 1 s, doubled each time), so a retry sleep also ends within the margin.
MAX_ATTEMPTS = 4

# botocore builds a client from its service's whole model: CloudFormation's is 90 KB of gzip, 8 ms
# of every cold start (measured: a client from it against one from the cut model), for the two
# calls each request makes to confirm itself. models/ holds that model cut down to those operations
# (made from botocore's own by `python -m lint.service_models`, which `make lint` and a test
# check), searched before botocore's: the default session's, so every client here sees it.
MODELS = Path(__file__).with_name("models")
TRIMMED_OPERATIONS = {"cloudformation": ("DescribeStackResource", "DescribeStacks")}
_session = botocore.session.get_session()
_session.get_component("data_loader").search_paths.insert(0, str(MODELS))
boto3.setup_default_session(botocore_session=_session)

_current: ContextVar[Deadline | None] = ContextVar("elasticache_deadline", default=None)


def attempt_timeouts(margin: float) -> tuple[float, float]:
    """(connect, read) timeouts for one attempt, together at most 70% of the deadline margin."""
    return max(0.5, min(2.0, margin * 0.2)), max(0.5, min(5.0, margin * 0.5))


@contextmanager
def bounded_by(deadline: Deadline) -> Iterator[None]:
    """Calls made in this block (in this thread) stop retrying once `deadline` has passed."""
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)


def _refuse_late_attempt(**_: Any) -> None:
    deadline = _current.get()
    if deadline is not None and deadline.remaining() <= 0:
        raise DeadlineReached("deadline reached before an AWS call")


def _paced(pacing: Pacing, **_: Any) -> None:
    """Wait the pause the client's pacing asks for, within the current deadline (a call made
    outside any deadline is left to botocore's own backoff: no pause could be bounded)."""
    deadline = _current.get()
    if deadline is None:
        return
    wait = pacing.wait()
    if wait > 0:
        deadline.sleep(wait)  # DeadlineReached rather than an attempt past the deadline


def _retry_within_deadline(
    pacing: Pacing | None, response: Any = None, caught_exception: Any = None, attempts: int = 1, **_: Any
) -> float | None:
    """botocore's needs-retry hook, run before its own: None lets botocore decide."""
    throttled, retryable = False, caught_exception is not None
    if response is not None:
        http, parsed = response
        throttled = isinstance(parsed, dict) and parsed.get("Error", {}).get("Code", "") in THROTTLING_CODES
        retryable = retryable or throttled or http.status_code >= 500
    if throttled and pacing is not None:
        pacing.throttled()
    deadline = _current.get()
    if deadline is None or not retryable:
        return None
    if deadline.remaining() <= 0:
        raise DeadlineReached("deadline reached before an AWS retry")
    if throttled and pacing is not None:
        return 0.0  # at once: the next attempt waits its pause in _paced
    # Throttling and connection failures (an overloaded endpoint: measured, 500 concurrent
    # creates met connect timeouts) go on past botocore's attempts while time is left.
    if not (throttled or caught_exception is not None) or attempts < MAX_ATTEMPTS:
        return None
    delay = min(2.0, 0.25 * 2.0 ** min(attempts - MAX_ATTEMPTS, 3)) * random.uniform(0.5, 1.0)
    if delay >= deadline.remaining():
        raise DeadlineReached("deadline reached while AWS throttles or cannot be reached")
    return delay


def new_client(service: str, endpoint: str | None, margin: float, pacing: Pacing | None = None) -> Any:
    """A client of `service` for an endpoint (None: boto3's own resolution, which honours
    AWS_ENDPOINT_URL_<SERVICE>) whose every attempt fits the deadline margin; `pacing` (then
    in place of botocore's adaptive mode) spaces its attempts by the throttles it meets."""
    connect, read = attempt_timeouts(margin)
    client = boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        config=Config(
            retries={"mode": "adaptive" if pacing is None else "standard", "total_max_attempts": MAX_ATTEMPTS},
            connect_timeout=connect,
            read_timeout=read,
        ),
    )
    name = client.meta.service_model.service_id.hyphenize()
    if pacing is not None:
        client.meta.events.register(f"before-send.{name}", functools.partial(_paced, pacing))
    client.meta.events.register(f"before-send.{name}", _refuse_late_attempt)
    # botocore sleeps the delay a needs-retry handler returns (its stubs type handlers as -> None).
    retry = functools.partial(_retry_within_deadline, pacing)
    client.meta.events.register_first(f"needs-retry.{name}", cast(Callable[..., None], retry))
    return client


def new_elasticache_client(endpoint: str | None, margin: float) -> ElastiCacheClient:
    """An ElastiCache client for an endpoint and deadline margin, paced by the throttles it
    meets (pacing.py): many invocations at once share the account's one ElastiCache rate."""
    pause = SETTING["THROTTLE_PAUSE_SECONDS"].number()  # 0: botocore's adaptive mode alone
    return cast("ElastiCacheClient", new_client("elasticache", endpoint, margin, Pacing(pause) if pause else None))


# One per endpoint and margin, built at cold start (provider/app.py) and reused by every invocation.
elasticache_client = functools.lru_cache(maxsize=4)(new_elasticache_client)


# boto3's per-service endpoint variables (AWS_ENDPOINT_URL_<service id>): part of the cache key,
# so that a client follows the environment it was built in.
ENDPOINT_VARIABLES = {
    "cloudformation": "AWS_ENDPOINT_URL_CLOUDFORMATION",
    "events": "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "lambda": "AWS_ENDPOINT_URL_LAMBDA",
    "secretsmanager": "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "ssm": "AWS_ENDPOINT_URL_SSM",
}


@functools.lru_cache(maxsize=16)
def _cached_client(service: str, margin: float, _endpoints: tuple[str, str]) -> Any:
    return new_client(service, None, margin)


def aws_client(service: str, margin: float) -> Any:
    """A cached, deadline-bounded client of `service` (cloudformation, events, lambda,
    secretsmanager, ssm), built on first use."""
    endpoints = (os.environ.get(ENDPOINT_VARIABLES[service], ""), os.environ.get("AWS_ENDPOINT_URL", ""))
    return _cached_client(service, margin, endpoints)
