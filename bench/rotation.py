"""Rotation: one whole rotation (the four steps, as Secrets Manager invokes them) of a user whose
modifications take `modify_seconds`, against its own fake and Secrets Manager stand-in."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from contextlib import ExitStack

from bench.common import owner_tags, table

ENDPOINTS = ("AWS_ENDPOINT_URL_ELASTICACHE", "AWS_ENDPOINT_URL_SECRETS_MANAGER")


def report(modify_seconds: float, repeats: int) -> dict[str, float]:
    from local import rotation_driver as driver
    from local.fake_elasticache import FakeElastiCache
    from local.fake_secrets import FakeSecrets, serve_secrets
    from local.fake_wire import serve

    rows, seconds = [], []
    saved = {name: os.environ.get(name) for name in ENDPOINTS}
    for run in range(repeats):
        with ExitStack() as stack:
            fake = FakeElastiCache(modify_seconds=modify_seconds, tag_busy_seconds=5.0)
            os.environ["AWS_ENDPOINT_URL_ELASTICACHE"] = stack.enter_context(serve(fake))
            secrets = FakeSecrets()
            os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = stack.enter_context(serve_secrets(secrets))
            user, secret = f"rotated-{run}", f"elasticache/rotated-{run}"
            arn = f"arn:aws:elasticache:us-east-1:123456789012:user:{user}"
            secrets.add(secret, json.dumps({"username": user, "password": "Bench-First-Passw0rd-001", "user_arn": arn}))
            fake.add_user(
                user,
                passwords=["Bench-First-Passw0rd-001"],
                tags={**owner_tags(user), "elasticache-user-resource:password-secret": secret},
            )
            before = len(fake.calls)
            started = time.monotonic()
            driver.rotate(secret, repeat=False)
            seconds.append(time.monotonic() - started)
            calls = Counter(action for action, _ in fake.calls[before:])
            rows.append(
                [
                    run + 1,
                    f"{seconds[-1]:.1f} s",
                    sum(calls.values()),
                    ", ".join(f"{a} {n}" for a, n in sorted(calls.items())),
                ]
            )
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    table(
        f"Rotation: createSecret, setSecret, testSecret, finishSecret; the user modifies for {modify_seconds:g} s",
        ["run", "time", "ElastiCache calls", "by action"],
        rows,
        [
            "Production poll schedule. setSecret waits for 'active' before ModifyUser; testSecret waits out the",
            "modification; createSecret and finishSecret call Secrets Manager only.",
        ],
    )
    return {"rotation_seconds": sorted(seconds)[len(seconds) // 2]}
