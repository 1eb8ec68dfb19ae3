"""The demos the README names run end to end (each starts its own stand-ins on 127.0.0.1)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_make_drift_reports_three_changes_repairs_them_and_then_finds_none() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "local.drift_demo"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    first, after = done.stdout.split("drift report:", 1)[1], done.stdout.split("drift report after the repair:", 1)[1]
    assert all(f'"UserId": "{user}"' in first for user in ("orders", "billing", "reports"))
    assert '"drifted": []' in after and "FAILED" not in done.stdout
