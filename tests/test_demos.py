"""The demos the docs name run end to end (each starts its own stand-ins on 127.0.0.1)."""

from __future__ import annotations

import re
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


def test_local_run_answers_every_event_in_the_events_folder_on_the_stateful_fake() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "local.run", "--delete-seconds", "0.2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    ran = re.findall(r"^==> (\w+) \(([^)]+)\)", done.stdout, re.M)
    assert {name for _, name in ran} == {path.name for path in (ROOT / "events").glob("*.json")} | {"stack delete"}
    answers = re.findall(r'^  "Status": "(\w+)"', done.stdout, re.M)
    assert answers == ["SUCCESS"] * len(ran)
    # The secret create-secret.json names, and the group create-with-groups.json joins, with consent.
    assert "Secrets Manager stand-in holds the secret elasticache/app-user-1" in done.stdout
    assert "tagged elasticache-user-resource:members-from=:all" in done.stdout
    assert '"UserGroupIds": "app-readers"' in done.stdout
    assert done.stdout.rstrip().endswith("users left: none\ngroup members: app-readers: none, app-writers: none")
