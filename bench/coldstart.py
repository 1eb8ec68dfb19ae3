"""Cold start: importing the handler and building its clients, in fresh processes, from the
function's package as Lambda gets it, against `import boto3` plus one client from the same package.

The package is built here as the build builds it: src/handler and the distributions it imports,
copied without bytecode (what `sam build` alone ships: its Python builder leaves *.pyc out), then
compiled as `make build` compiles it. Each process runs as Lambda runs it: from that directory
alone, unable to write bytecode (/var/task is read-only).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import HANDLER, median, table
from lint.stackset import distributions

TIMER = "import time; _t = time.perf_counter()\n{code}\nprint(time.perf_counter() - _t)"
BASELINE = "import boto3 + one client (baseline)"
HANDLER_ROW = "this handler (import app)"
CREATE_UPDATE = "import provider.app, rules.properties, provider.converge, rules.secrets_source"
EAGER_CLIENTS = "import provider.app, boto3\nfor s in ('lambda', 'events', 'logs'): boto3.client(s)"
# (row, code, compiled): every variant but the last two runs from the compiled package.
VARIANTS = [
    (BASELINE, "import boto3; boto3.client('elasticache')", True),
    (
        "baseline, GC paused as the handler does",
        "import gc; gc.disable()\nimport boto3; boto3.client('elasticache')\ngc.freeze(); gc.enable()",
        True,
    ),
    (HANDLER_ROW, "import provider.app", True),
    ("handler + what Create/Update import on first use", CREATE_UPDATE, True),
    ("handler + crhelper's eager clients", EAGER_CLIENTS, True),
    ("baseline, no bytecode (sam build alone)", "import boto3; boto3.client('elasticache')", False),
    ("this handler, no bytecode (sam build alone)", "import provider.app", False),
]


def _distributions() -> list[Path]:
    """The installed packages and modules of src/handler/requirements.txt and their dependencies
    (the closure `make stackset` ships), for this interpreter."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    found = set()
    for distribution in distributions(HANDLER / "requirements.txt", python):
        tops = {file.parts[0] for file in distribution.files or [] if file.parts[0] != ".."}
        found |= {Path(str(distribution.locate_file(top))) for top in tops if not top.endswith(".dist-info")}
    return sorted(path for path in found if path.name != "__pycache__")


def build_package(into: Path, compiled: bool) -> Path:
    """src/handler and its distributions in `into`, without bytecode; `compiled`: then compiled as
    `make build` compiles (the runtime's Python, unchecked-hash)."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(HANDLER, into, ignore=skip)
    for source in _distributions():
        if source.is_dir():
            shutil.copytree(source, into / source.name, ignore=skip)
        else:
            shutil.copy2(source, into / source.name)
    if compiled:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", into],
            check=True,
        )
    return into


def _environment(package: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(package), "PYTHONDONTWRITEBYTECODE": "1"}


def run_once(code: str, package: Path) -> float | None:
    # -S: no site-packages, so every import comes from the package, as in Lambda.
    done = subprocess.run(
        [sys.executable, "-S", "-c", TIMER.format(code=code)],
        capture_output=True,
        text=True,
        env=_environment(package),
        cwd=package,
        check=False,
    )
    return float(done.stdout.strip()) if done.returncode == 0 else None


def report(runs: int) -> dict[str, float]:
    """Measure each variant `runs` times, in rounds that run every variant once, and print
    medians and each variant's median ratio to the baseline of its own round (paired: a
    machine that slows down for a while slows both sides of a ratio)."""
    samples: dict[str, list[float]] = {name: [] for name, _, _ in VARIANTS}
    ratios: dict[str, list[float]] = {name: [] for name, _, _ in VARIANTS}
    with tempfile.TemporaryDirectory() as scratch:
        packages = {done: build_package(Path(scratch) / str(done), done) for done in (True, False)}
        for _ in range(runs):
            measured = {name: run_once(code, packages[compiled]) for name, code, compiled in VARIANTS}
            baseline = measured[BASELINE]
            for name, seconds in measured.items():
                if seconds is not None:
                    samples[name].append(seconds)
                    if baseline is not None:
                        ratios[name].append(seconds / baseline)
    rows = [
        [name, f"{median(samples[name]) * 1000:6.0f} ms", f"{median(ratios[name]):4.2f}x"]
        if samples[name] and ratios[name]
        else [name, "n/a", "n/a"]
        for name, _, _ in VARIANTS
    ]
    table(
        f"Cold start (fresh processes, median of {runs})",
        ["what", "time", "vs baseline"],
        rows,
        [
            "time: from the first import to the clients built, measured inside each process, run from the",
            "function's package as `make build` ships it (bytecode compiled) and unable to write bytecode.",
            "vs baseline: the median of each round's ratio (every round runs each variant once).",
            "The handler pauses the cyclic GC during start-up and freezes what it built (provider/app.py); the",
            "second row applies the same to the baseline, for a like-for-like ratio.",
            "Its CloudFormation client loads a model cut down to its two calls (src/handler/runtime/models/).",
            "A Delete imports no property table: properties, converge and secrets_source (and the access-string",
            "rules) are imported by the first Create or Update (fourth row), outside a Delete's cold start.",
            "crhelper's eager clients are what this handler avoids: it builds crhelper's lambda, events and",
            "logs clients only for a hand-over. (powertools' Tracer, also left out, needs aws-xray-sdk.)",
            "The last two rows: the package `sam build` makes alone, without bytecode, which Lambda would",
            "compile from source at every cold start (/var/task is read-only).",
        ],
    )
    return {"ratio": median(ratios[HANDLER_ROW]) if ratios[HANDLER_ROW] else float("inf")}
