"""The benchmark is a tool, not a test: this only checks that a tiny run works end to end."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_benchmark_smoke_run_prints_every_table() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "SSL_CERT_FILE"))}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for title in ("Detection lag", "Cold start", "Memory: peak RSS", "Scale: 10 users"):
        assert title in done.stdout
    assert "answers SUCCESS / FAILED / missing | 10 / 0 / 0" in done.stdout
    # Every cold start variant ran from the package it built (a failed import would read n/a).
    cold_start = done.stdout.split("Cold start")[1].split("\n\n")[0]
    assert "this handler, no bytecode (sam build alone)" in cold_start and "n/a" not in cold_start
    assert "checked / drifted / unknown / errors | 20 / 3 / 0 / 0" in done.stdout
    # A group owner's consent: one ListTagsForResource per group joined, and only with consent on.
    consent = done.stdout.split("Group owners' consent")[1].split("\n\n")[0]
    rows = {
        cells[0]: cells[1:] for line in consent.splitlines() if len(cells := [c.strip() for c in line.split("|")]) == 5
    }
    assert rows["Create joining 3, consent on"][0] == "18"
    assert int(rows["Create joining 3, consent on"][0]) - int(rows["Create joining 3, consent off"][0]) == 3
    assert "ListTagsForResource 3" in rows["Create joining 3, consent on"][1]
    assert "ListTagsForResource" not in rows["Create joining 3, consent off"][1]
    # The stack's waves, unreserved and through Lambda's queue at a reserved concurrency of 2.
    stack = done.stdout.split("Stack: 3 users")[1].split("\n\n")[0]
    for row in ("unreserved | Create |                  3 / 0 / 0 |", "2 | Delete |                  3 / 0 / 0 |"):
        assert row in stack
