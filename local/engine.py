"""A real Redis engine (Debian's `redis-server`, 7.0) on 127.0.0.1, started and stopped by pid,
for the stateful fake to mirror ElastiCache users onto: its `ACL SETUSER` is the parser
ElastiCache's engines use, and `AUTH user password` shows which passwords really work.

`python -m local.engine ensure` installs `redis-server` with apt when it is missing (root
only, as on these machines and CI); `python -m local.engine table` prints the engine's
command table (src/handler/rules/engine_commands.json is that output).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

SERVER = "redis-server"


# What a person without root reads when redis-server is missing: one line, no traceback.
MISSING = (
    "redis-server is missing: the stateful ElastiCache fake mirrors every user onto a real engine. "
    "Install it (Debian, Ubuntu: sudo apt-get install redis-server; macOS: brew install redis), "
    "or run make as root to have it installed with apt."
)


def ensure_installed() -> str:
    """The path of redis-server, installed with apt-get when missing (as local/docker.sh does).
    Without root it cannot be: the process exits with MISSING (SystemExit: no traceback)."""
    found = shutil.which(SERVER)
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit(MISSING)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "redis-server"], check=True, env=environment, stdout=subprocess.DEVNULL
    )
    # The package starts a system daemon on 6379; ours run on ports of their own.
    subprocess.run(["service", "redis-server", "stop"], check=False, capture_output=True)
    found = shutil.which(SERVER)
    if not found:
        raise RuntimeError("apt-get installed redis-server, but it is not on PATH")
    return found


def command(client: redis.Redis, *arguments: object) -> Any:
    """One engine command (redis-py's execute_command is untyped)."""
    return client.execute_command(*arguments)  # type: ignore[no-untyped-call]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Engine:
    """One redis-server process with its own directory; `start` and `stop` by pid."""

    def __init__(self) -> None:
        self.port = 0
        self.directory = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Engine:
        server = ensure_installed()
        self.directory = tempfile.mkdtemp(prefix="engine-")
        self.port = _free_port()
        self._process = subprocess.Popen(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.directory,
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--logfile",
                str(Path(self.directory) / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.admin().ping():
                    return self
            except redis.ConnectionError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start (see {self.directory}/redis.log)") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def admin(self) -> redis.Redis:
        """A connection as the engine's `default` user (which administers the ACLs)."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, decode_responses=True)

    # What the fake mirrors -------------------------------------------------------------------

    def refusal(self, rules: Sequence[str]) -> str | None:
        """The engine's error for an access string's rules, or None when its parser accepts them.
        Checked on a scratch user: a refused rule never half-changes a real one."""
        admin = self.admin()
        try:
            command(admin, "ACL", "SETUSER", "elasticache-fake-probe", "reset", *rules)
        except redis.ResponseError as error:
            return str(error)
        finally:
            command(admin, "ACL", "DELUSER", "elasticache-fake-probe")
        return None

    def set_user(self, name: str, rules: Sequence[str], passwords: Sequence[str], no_password: bool) -> None:
        """Make `name` exactly these rules and passwords (ElastiCache replaces, never adds)."""
        secrets = ["nopass"] if no_password else [f">{p}" for p in passwords]
        command(self.admin(), "ACL", "SETUSER", name, "reset", *rules, *secrets)

    def reset_users(self) -> None:
        """Remove every user but the engine's own `default` (a fresh fake's engine)."""
        admin = self.admin()
        names = [str(n) for n in command(admin, "ACL", "USERS") if str(n) != "default"]
        if names:
            command(admin, "ACL", "DELUSER", *names)

    def delete_user(self, name: str) -> None:
        command(self.admin(), "ACL", "DELUSER", name)

    def canonical(self, name: str) -> str:
        """The user's rules as the engine prints them (ACL LIST), without its name, passwords
        and engine-only flags: the form ElastiCache reports its AccessString in."""
        for line in command(self.admin(), "ACL", "LIST"):
            parts = str(line).split(" ")
            if parts[:2] == ["user", name]:
                hidden = ("#", "nopass", "sanitize-payload", "resetchannels")
                return " ".join(p for p in parts[2:] if not p.startswith(hidden))
        return ""

    def authenticates(self, name: str, password: str) -> bool:
        """Whether `AUTH name password` succeeds on a fresh connection."""
        connection = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        try:
            return bool(command(connection, "AUTH", name, password))
        except (redis.AuthenticationError, redis.ResponseError):
            return False
        finally:
            connection.close()

    def command_table(self) -> dict[str, Any]:
        """Every command (with its subcommands) and ACL category the engine knows."""
        admin = self.admin()
        admin.set_response_callback("COMMAND", lambda response, **_: response)  # the raw reply
        commands: dict[str, list[str]] = {}
        # COMMAND LIST names subcommands too ("config|get"): their parents list them.
        for name in sorted(str(n) for n in command(admin, "COMMAND", "LIST") if "|" not in str(n)):
            [entry] = command(admin, "COMMAND", "INFO", name)
            names = [str(sub[0]).split("|", 1)[-1] for sub in entry[9]] if len(entry) > 9 else []
            commands[name.lower()] = sorted(n.lower() for n in names)
        categories = sorted(str(c) for c in command(admin, "ACL", "CAT"))
        version = admin.info("server")["redis_version"]
        return {"engine": f"redis {version}", "categories": categories, "commands": commands}


def main(argv: list[str]) -> int:
    if argv[:1] == ["ensure"]:
        print(ensure_installed())
        return 0
    if argv[:1] == ["table"]:
        with Engine() as engine:
            print(json.dumps(engine.command_table(), indent=1, sort_keys=True))
        return 0
    print("usage: python -m local.engine ensure|table", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
