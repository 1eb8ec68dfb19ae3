"""Driving a rotation as Secrets Manager does, and an application that uses the password meanwhile:
shared by the rotation tests, `make rotate-demo` and the benchmark."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from local import iam_gate
from local.context import LambdaContext
from local.engine import Engine
from local.iam_gate import operator_client

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


def step(secret: str, token: str, name: str, seconds: float = 900) -> None:
    """One invocation of the rotation function, as Secrets Manager makes it."""
    from rotation import app as rotation

    with iam_gate.acting("rotation"):
        rotation.lambda_handler({"SecretId": secret, "ClientRequestToken": token, "Step": name}, LambdaContext(seconds))


def start(secret: str) -> str:
    """RotateSecret: a new AWSPENDING version; returns its id (the steps' ClientRequestToken)."""
    return str(operator_client("secretsmanager").rotate_secret(SecretId=secret)["VersionId"])


def test_alone(secret: str, copy: bool = False, seconds: float = 900) -> str:
    """RotateSecret with RotateImmediately=false, as Secrets Manager runs it: "The test creates an
    AWSPENDING version of the secret and then removes it" (RotateSecret API reference), with only
    testSecret in between. The version is empty, or with `copy` a copy of AWSCURRENT (the
    reference does not say which). Returns the version's id."""
    client = operator_client("secretsmanager")
    token = str(client.rotate_secret(SecretId=secret, RotateImmediately=False)["VersionId"])
    if copy:
        current = client.get_secret_value(SecretId=secret)["SecretString"]
        client.put_secret_value(
            SecretId=secret, ClientRequestToken=token, SecretString=current, VersionStages=["AWSPENDING"]
        )
    try:
        step(secret, token, "testSecret", seconds)
    finally:
        client.update_secret_version_stage(SecretId=secret, VersionStage="AWSPENDING", RemoveFromVersionId=token)
    return token


def password(secret: str, **version: str) -> str:
    """The password the secret holds (AWSCURRENT unless a VersionId / VersionStage is given)."""
    value = operator_client("secretsmanager").get_secret_value(SecretId=secret, **version)["SecretString"]
    return str(json.loads(value)["password"])


def rotate(
    secret: str, on_step: Callable[[str], None] = lambda name: None, repeat: bool = True, seconds: float = 900
) -> str:
    """One whole rotation; with `repeat`, createSecret, setSecret and finishSecret run twice, as
    Secrets Manager may run them. `on_step` is told each step after it ran."""
    token = start(secret)
    for name in STEPS:
        for _ in range(2 if repeat and name != "testSecret" else 1):
            step(secret, token, name, seconds)
        on_step(name)
    return token


class Client(threading.Thread):
    """An application: reads the secret's password, caches it for `cache_seconds`, connects
    (AUTH) every `every` seconds, and re-reads the secret when refused (WRONGPASS)."""

    def __init__(self, engine: Engine, user: str, secret: str, cache_seconds: float = 0.5, every: float = 0.03):
        super().__init__(daemon=True)
        self.engine, self.user, self.secret = engine, user, secret
        self.cache_seconds, self.every = cache_seconds, every
        self.accepted = self.refused = 0
        self.using = ""  # the password it last connected with
        self.stop = threading.Event()
        self._seen = threading.Condition()

    def run(self) -> None:
        current, read_at = password(self.secret), time.monotonic()
        while not self.stop.is_set():
            if time.monotonic() - read_at > self.cache_seconds:
                current, read_at = password(self.secret), time.monotonic()
            accepted = self.engine.authenticates(self.user, current)
            with self._seen:
                if accepted:
                    self.accepted, self.using = self.accepted + 1, current
                else:
                    self.refused += 1
                self._seen.notify_all()
            if not accepted:
                current, read_at = password(self.secret), time.monotonic()
            time.sleep(self.every)

    def wait_until_using(self, password: str, timeout: float = 10.0) -> bool:
        """Block until a connection was accepted with `password` (True), or `timeout` passed."""
        with self._seen:
            return self._seen.wait_for(lambda: self.using == password, timeout)

    def wait_until_refused(self, timeout: float = 10.0) -> bool:
        """Block until a connection was refused (True), or `timeout` passed."""
        with self._seen:
            return self._seen.wait_for(lambda: self.refused > 0, timeout)

    def __enter__(self) -> Client:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.join()
