"""Cold start: importing the handler and building its clients, in fresh processes, against
`import boto3` plus one client; and what the avoided extras would cost."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.common import HANDLER, ROOT, median, table

TIMER = "import time; _t = time.perf_counter()\n{code}\nprint(time.perf_counter() - _t)"
VARIANTS = {
    "import boto3 + one client (baseline)": "import boto3; boto3.client('elasticache')",
    "baseline, GC paused as the handler does": (
        "import gc; gc.disable()\nimport boto3; boto3.client('elasticache')\ngc.freeze(); gc.enable()"
    ),
    "this handler (import app)": "import app",
    "handler + what Create/Update import on first use": "import app, properties, converge, secrets_source",
    "handler + crhelper's eager clients": ("import app, boto3\nfor s in ('lambda', 'events', 'logs'): boto3.client(s)"),
    "handler + powertools Tracer": "import app\nfrom aws_lambda_powertools import Tracer\nTracer()",
}


def run_once(code: str) -> float | None:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HANDLER), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", TIMER.format(code=code)], capture_output=True, text=True, env=environment, check=False
    )
    return float(done.stdout.strip()) if done.returncode == 0 else None


def report(runs: int) -> dict[str, float]:
    """Measure each variant `runs` times, interleaved, and print medians and ratios."""
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    failed: set[str] = set()
    for _ in range(runs):
        for name, code in VARIANTS.items():
            seconds = run_once(code)
            if seconds is None:
                failed.add(name)
            else:
                samples[name].append(seconds)
    baseline = median(samples["import boto3 + one client (baseline)"])
    rows = []
    for name in VARIANTS:
        if name in failed or not samples[name]:
            rows.append([name, "n/a", "n/a"])
            continue
        value = median(samples[name])
        rows.append([name, f"{value * 1000:6.0f} ms", f"{value / baseline:4.2f}x"])
    table(
        f"Cold start (fresh processes, median of {runs})",
        ["what", "time", "vs baseline"],
        rows,
        [
            "time: from the first import to the clients built, measured inside each process.",
            "The handler pauses the cyclic GC during start-up and freezes what it built (app.py); the",
            "second row applies the same to the baseline, for a like-for-like ratio.",
            "A Delete imports no property table: properties, converge and secrets_source (and the access-string",
            "rules) are imported by the first Create or Update (third row), outside a Delete's cold start.",
            "crhelper's eager clients and Tracer are what this handler avoids: it builds crhelper's lambda,",
            "events and logs clients only for a hand-over, and does not use Tracer.",
        ],
    )
    return {"ratio": median(samples["this handler (import app)"]) / baseline}
