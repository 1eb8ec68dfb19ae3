"""`make rotate-demo`: three password rotations of a user declared with PasswordSecretId, while an
application keeps connecting to a real engine with the password it reads from the secret; then
the configuration test Secrets Manager runs for RotateImmediately=false (testSecret alone, on an
empty AWSPENDING version and on a copy of AWSCURRENT), which must change nothing.

Each step of each rotation is printed with the passwords the engine accepts at that moment
(the previous, current and pending versions of the secret), and at the end the application's
count of accepted and refused connections. No AWS account, no Docker.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from local.context import LambdaContext, demo_environment

ROOT = Path(__file__).resolve().parent.parent

SECRET = "elasticache/demo-user"  # noqa: S105 - the secret's name
USER = "demo-user"


def main() -> int:
    demo_environment()
    import boto3

    import local  # noqa: F401 - the function's modules on the import path
    from local import rotation_driver as driver
    from local.engine import Engine
    from local.fake_elasticache import FakeElastiCache
    from local.fake_secrets import FakeSecrets, serve_secrets
    from local.fake_ssm import FakeSsm, serve_ssm
    from local.fake_wire import serve
    from local.receiver import https_receiver

    logging.getLogger("elasticache-user-resource").setLevel(logging.ERROR)
    with ExitStack() as stack:
        engine = stack.enter_context(Engine())
        fake = FakeElastiCache(create_seconds=1.0, modify_seconds=2.0, engine=engine)
        os.environ["AWS_ENDPOINT_URL_ELASTICACHE"] = stack.enter_context(serve(fake))
        secrets = FakeSecrets()
        os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = stack.enter_context(serve_secrets(secrets))
        # The provider records what it applied (drift) in Parameter Store: the stand-in, never AWS.
        os.environ["AWS_ENDPOINT_URL_SSM"] = stack.enter_context(serve_ssm(FakeSsm()))
        receiver = stack.enter_context(https_receiver())
        from local.fake_cloudformation import cloudformation

        stack.enter_context(cloudformation(receiver))  # CloudFormation shows the Create under way
        print(f"engine: redis-server on 127.0.0.1:{engine.port}; ElastiCache fake (modifying 2 s); Secrets Manager")
        secrets.add(
            SECRET,
            json.dumps(
                {
                    "username": USER,
                    "password": "Demo-First-Passw0rd-0001",
                    "user_arn": f"arn:aws:elasticache:us-east-1:123456789012:user:{USER}",
                }
            ),
        )
        from provider import app

        create = json.loads((ROOT / "events" / "create-secret.json").read_text())
        create["ResponseURL"] = receiver.url("create")
        create["ResourceProperties"].update(UserId=USER, UserName=USER, PasswordSecretId=SECRET)
        app.lambda_handler(create, LambdaContext(300))
        print(f"Create {USER} with PasswordSecretId {SECRET}: {receiver.wait_for(1)[-1].body['Status']}")

        def versions() -> str:
            stages = boto3.client("secretsmanager").describe_secret(SecretId=SECRET)["VersionIdsToStages"]
            shown = []
            for version, labels in stages.items():
                value = driver.password(SECRET, VersionId=version)
                verdict = "accepted" if engine.authenticates(USER, value) else "refused"
                shown.append(f"{'/'.join(labels)} {value[:4]}**** {verdict}")
            return "; ".join(shown)

        started = time.monotonic()
        with driver.Client(engine, USER, SECRET) as client:
            for number in range(1, 4):
                print(f"\nrotation {number}")
                driver.rotate(
                    SECRET,
                    on_step=lambda name: print(
                        f"  [+{time.monotonic() - started:5.1f}s] {name:12s} engine: {versions()}"
                    ),
                )
                time.sleep(1.0)  # the time readers have to pick up the new password
        print(
            f"\napplication: {client.accepted} connections accepted, {client.refused} refused "
            f"(password cached 0.5 s, re-read on WRONGPASS, a connection every 30 ms)"
        )

        def accepted() -> list[bool]:
            # What the function could change: which of the secret's passwords the engine takes.
            stages = boto3.client("secretsmanager").describe_secret(SecretId=SECRET)["VersionIdsToStages"]
            return [engine.authenticates(USER, driver.password(SECRET, VersionId=v)) for v in sorted(stages)]

        before, modified = (accepted(), driver.password(SECRET)), fake.count("ModifyUser")
        for copy in (False, True):
            driver.test_alone(SECRET, copy=copy)
            shape = "a copy of AWSCURRENT" if copy else "empty"
            print(f"\ntestSecret alone (RotateImmediately=false, AWSPENDING {shape}): succeeded; engine: {versions()}")
        unchanged = (accepted(), driver.password(SECRET)) == before and fake.count("ModifyUser") == modified
        print(f"configuration tests changed {'nothing' if unchanged else 'SOMETHING'}")
        return 0 if client.refused == 0 and unchanged else 1


if __name__ == "__main__":
    sys.exit(main())
