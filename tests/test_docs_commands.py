"""Every shell command the docs show runs: the ```bash, ```sh and ```console blocks of README.md
and docs/*.md, each command on a scratch copy of the repository (the working tree, with the
project's virtual environments linked in), failing on a non-zero exit or a traceback. The
commands that need an AWS account or Docker, or that would be recursive or too long here, are
skipped by SKIPPED below, with the reason.

Also here: `make help` lists every target, and a missing prerequisite (redis-server, Node.js)
stops with one line that names what to install, without a traceback."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
BLOCK = re.compile(r"^```(bash|sh|console)\n(.*?)^```", re.S | re.M)
TRACEBACK = "Traceback (most recent call last)"
# (pattern of a command, why it is not run here)
SKIPPED = (
    (r"make test(\s|$)", "recursive: this test is part of make test"),
    (r"make (deploy|package|publish)\b", "needs an AWS account"),
    (r"(sam|aws|cdk) ", "needs an AWS account"),
    (r"make (invoke-local|test-sam-local)\b|docker\b", "needs Docker (a daemon of its own, a Lambda image)"),
    (r"make bench\b", "heavy: about 24 minutes (tests/test_bench.py runs its --smoke form)"),
    (r"make drift$", "run by tests/test_demos.py, which also checks the report it prints"),
    (r"\.venv/bin/python -m local\.run$", "run by tests/test_demos.py, which also checks every event's answer"),
    (r"make cdk-synth$", "heavy (jsii, 20-50 s); make lint runs it (.ci/run), cdk/tests/test_example.py the same app"),
    (r"make lint(\s|$)", "heavy: mypy over the CDK, cdk synth and sam validate; CI runs it (.ci/run)"),
)
# The programs, by their full path (the PATH of a test below lacks some).
GIT, MAKE, BASH = (shutil.which(name) or name for name in ("git", "make", "bash"))
# A command's run may take this long (the demos take under a minute on a shared 2-core machine).
TIMEOUT_SECONDS = 300


def commands(text: str) -> list[str]:
    """The commands of a page's shell blocks: a console block's `$ ` lines, every other block's
    lines that are not comments (a line ending in `\\` continues on the next)."""
    found: list[str] = []
    for kind, body in BLOCK.findall(text):
        pending = ""
        for raw in body.splitlines():
            line = raw.strip()
            if kind == "console" and not pending:
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            if not line or line.startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1].rstrip() + " "
                continue
            found.append(pending + line)
            pending = ""
    return found


def skip_reason(command: str) -> str | None:
    return next((reason for pattern, reason in SKIPPED if re.match(pattern, command)), None)


def documented() -> list[str]:
    """Every command once, without its trailing comment (no command the docs show has a `#`)."""
    return list(dict.fromkeys(re.sub(r"\s+#.*$", "", c) for page in PAGES for c in commands(page.read_text())))


def scratch_copy(folder: Path) -> Path:
    """A clone of the repository with the working tree's files (changed and new ones too) on
    top, and the project's virtual environments linked in, so that nothing is installed."""
    copy = folder / "repo"
    subprocess.run([GIT, "clone", "-q", str(ROOT), str(copy)], check=True)
    listed = subprocess.run(
        [GIT, "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source, target = ROOT / name, copy / name
        if source.is_symlink() or not source.is_file():
            target.unlink(missing_ok=True)  # a file deleted in the working tree, or a link (the venvs)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    for venv in (".venv", ".venv-sam", "cdk/.venv"):
        if (ROOT / venv).exists():
            (copy / venv).unlink(missing_ok=True)
            (copy / venv).symlink_to((ROOT / venv).resolve())
    return copy


def clean_environment() -> dict[str, str]:
    """The caller's environment without what a test session or an outer make put there."""
    prefixes = ("AWS_", "MAKE", "MFLAGS", "PYTEST", "POWERTOOLS_", "RESPONSE_URL", "PROVIDER_ID")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def failure(done: subprocess.CompletedProcess[str]) -> str | None:
    """Why a command's run counts as failed: a non-zero exit, or a traceback in its output."""
    output = done.stdout + done.stderr
    if done.returncode != 0:
        return f"exit {done.returncode}:\n{output[-3000:]}"
    if TRACEBACK in output:
        return f"a traceback:\n{output[output.index(TRACEBACK) :][:3000]}"
    return None


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, "-c", command],
        cwd=cwd,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scratch_copy(tmp_path_factory.mktemp("docs-commands"))


@pytest.fixture(scope="module")
def started(repository: Path) -> Iterator[dict[str, tuple[subprocess.Popen[bytes], Path]]]:
    """Every command that is not skipped, started at once (they wait on timed stand-ins much more
    than they compute, so the module takes about as long as its longest command), each with its
    output in a file of its own; any still running at the end is stopped, with its children."""
    runs = {}
    for number, command in enumerate(c for c in documented() if not skip_reason(c)):
        output = repository.parent / f"command-{number}.out"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [BASH, "-c", command],
                cwd=repository,
                env=clean_environment(),
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        runs[command] = (process, output)
    yield runs
    for process, _ in runs.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# One worker runs them all: each worker that ran one would start every command again.
@pytest.mark.xdist_group("docs-commands")
@pytest.mark.parametrize("command", documented())
def test_every_command_the_docs_show_runs(
    command: str, started: dict[str, tuple[subprocess.Popen[bytes], Path]]
) -> None:
    reason = skip_reason(command)
    if reason:
        pytest.skip(f"{command}: {reason}")
    process, output = started[command]
    process.wait(timeout=TIMEOUT_SECONDS)
    done = subprocess.CompletedProcess(command, process.returncode, output.read_text(errors="replace"), "")
    problem = failure(done)
    assert problem is None, f"{command}: {problem}"


def test_the_docs_show_the_commands_a_user_needs_and_the_checks_can_fail(tmp_path: Path) -> None:
    shown = documented()
    needs = ("make run", "make test", "make lifecycle", "make cdk-synth", ".venv/bin/python -m local.run", "make help")
    for needed in needs:
        assert needed in shown, needed
    assert skip_reason("make test") == SKIPPED[0][1] and "Docker" in (skip_reason("make test-sam-local") or "")
    assert skip_reason("make run") is None and skip_reason("make lint-stack TEMPLATE=x.yaml") is None
    page = "```console\n$ make run\nout\n$ make \\\n  help\n```\n```sh\n# note\nls   # list\n```\n```yaml\nx: 1\n```"
    assert commands(page) == ["make run", "make help", "ls   # list"]
    assert failure(run("exit 3", tmp_path)) is not None
    printed = f"{sys.executable} -c \"print('{TRACEBACK}:')\""
    assert "a traceback" in (failure(run(printed, tmp_path)) or "")
    assert failure(run("true", tmp_path)) is None


def test_make_help_lists_every_target_one_line_each() -> None:
    makefile = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M)
    assert phony is not None
    targets = phony.group(1).split()
    shown = subprocess.run([MAKE, "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    listed = [line.split()[1] for line in shown.splitlines()]
    assert sorted(listed) == sorted(targets), set(listed) ^ set(targets)
    assert all(len(line.split(maxsplit=2)) == 3 for line in shown.splitlines())  # each with what it does


def _path_without(tmp_path: Path, missing: str) -> str:
    """A PATH with every program of the current one but `missing` (links in one folder)."""
    folder = tmp_path / "bin"
    folder.mkdir(parents=True)
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for program in os.listdir(directory):
            link = folder / program
            if program != missing and not link.exists() and os.access(Path(directory) / program, os.X_OK):
                link.symlink_to(Path(directory) / program)
    return str(folder)


def test_without_redis_server_and_root_the_engine_names_what_to_install_in_one_line(tmp_path: Path) -> None:
    # Not root (os.geteuid says 1000) and no redis-server on PATH; nothing is uninstalled.
    not_root = "import os, runpy, sys; os.geteuid = lambda: 1000; "
    for module, argv in (("local.engine", ["ensure"]), ("local.run", [])):
        code = not_root + f"sys.argv[1:] = {argv!r}; runpy.run_module('{module}', run_name='__main__')"
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**clean_environment(), "PATH": _path_without(tmp_path / module, "redis-server")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode != 0, module
        assert TRACEBACK not in done.stderr, done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, done.stderr
        assert "sudo apt-get install redis-server" in lines[0] and "brew install redis" in lines[0]


@pytest.mark.parametrize("target", ["cdk-synth", "cdk-test"])
def test_without_nodejs_the_cdk_targets_name_what_to_install_in_one_line(target: str, tmp_path: Path) -> None:
    path = _path_without(tmp_path, "node")
    done = subprocess.run(
        [MAKE, "-s", target],
        cwd=ROOT,
        env={**clean_environment(), "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert done.stdout.strip() == "", done.stdout  # nothing ran, nothing was installed
    said = done.stderr.splitlines()
    assert len(said) == 1, done.stderr
    assert "Node.js 20 or newer" in said[0] and "apt-get install nodejs" in said[0] and "brew install node" in said[0]
