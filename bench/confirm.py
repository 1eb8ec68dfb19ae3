"""What confirming a request with CloudFormation costs: calls and time per request, against
the CloudFormation stand-in on 127.0.0.1 (the real API's latency is not modelled: add the
region's round trip, tens of milliseconds, per call)."""

from __future__ import annotations

import time
from typing import Any

from bench.common import STACK_ID, median, table
from local.fake_cloudformation import FakeCloudFormation


def _event(kind: str, physical_id: str = "") -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": kind,
        "StackId": STACK_ID,
        "RequestId": f"confirm-{kind}",
        "LogicalResourceId": "BenchUser",
        "ResourceType": "Custom::ElastiCacheUser",
        "ResourceProperties": {},
    }
    if physical_id:
        event["PhysicalResourceId"] = physical_id
    return event


def report(api: FakeCloudFormation, repeats: int) -> dict[str, float]:
    from cloudformation import admission
    from local.context import LambdaContext
    from runtime.config import Settings

    settings, arn = Settings.from_environment(), LambdaContext().invoked_function_arn
    cases = [
        ("Create", _event("Create"), None),
        ("Update", _event("Update", "bench-user"), None),
        ("Delete", _event("Delete", "bench-user"), None),
        ("Delete in a cleanup phase", _event("Delete", "bench-old"), "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
        ("forged Update (refused)", _event("Update", "someone-else"), "UPDATE_COMPLETE"),
    ]
    rows, figures, refusals = [], {}, min(3, max(1, repeats // 50))
    for name, event, stack_status in cases:
        api.reset()
        api.begin(event)
        if stack_status:
            api.put(STACK_ID, stack_status, "BenchUser", "UPDATE_COMPLETE", "bench-user")
        # A refusal waits out the production CONFIRM_LAG_SECONDS (5 s) re-reading: a few suffice.
        times = refusals if stack_status == "UPDATE_COMPLETE" else repeats
        samples, calls = [], len(api.calls)
        for _ in range(times):
            started = time.perf_counter()
            verdict = admission.confirm(admission.request_of(event, settings), arn, settings, 10.0)
            samples.append(time.perf_counter() - started)
        per_request = (len(api.calls) - calls) / times
        rows.append([name, f"{per_request:.0f}", f"{median(samples) * 1000:.2f} ms", verdict.confirmed])
        figures[f"confirm_ms_{name.split()[0].lower()}"] = median(samples) * 1000
    api.reset()
    table(
        "Confirming a request with CloudFormation (provenance.py), per request",
        ["request", "CloudFormation calls", "median time", "confirmed"],
        rows,
        [
            f"Against the stand-in on 127.0.0.1 with a warm client, median of {repeats} ({refusals} for the",
            "refusal). A status that does not match is read again for CONFIRM_LAG_SECONDS (production: 5 s)",
            "before the refusal, as in Lambda.",
        ],
    )
    return figures
