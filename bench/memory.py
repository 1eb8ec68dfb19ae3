"""Memory: peak RSS of a process that imports the handler and answers one Delete."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.common import HANDLER, ROOT, table

# VmHWM, not getrusage's ru_maxrss: that one survives execve, so a child started by this
# (larger) process would report the parent's peak.
PEAK = "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"
INVOCATION = f"""
import json, sys
from provider import app
from local.context import LambdaContext
app.lambda_handler(json.loads(sys.argv[1]), LambdaContext(timeout_seconds=60))
{PEAK}
"""
BASELINE = f"import boto3; boto3.client('elasticache')\n{PEAK}"


def peak_kib(code: str, *args: str) -> int:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HANDLER), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=environment, check=True
    )
    return int(done.stdout.strip().splitlines()[-1])


def report(event_json: str) -> dict[str, float]:
    """Print peak RSS of one invocation against the boto3 baseline; the limit is 128 MB."""
    invocation = peak_kib(INVOCATION, event_json) / 1024
    baseline = peak_kib(BASELINE) / 1024
    table(
        "Memory: peak RSS of one process",
        ["what", "peak RSS", "fits 128 MB"],
        [
            ["import boto3 + one client", f"{baseline:5.1f} MB", "yes" if baseline < 128 else "NO"],
            ["handler, one Delete answered", f"{invocation:5.1f} MB", "yes" if invocation < 128 else "NO"],
        ],
        ["The Lambda runtime adds its own few MB; the function is configured with 128 MB."],
    )
    return {"peak_mb": invocation}
