"""`sam local invoke` for real, against emulators on 127.0.0.1, never AWS:

    python -m local.sam_invoke events/delete.json [events/...]      (make invoke-local EVENT=...)

The function runs with SAM CLI in a Lambda container: the locally built image
(local/lambda-image.sh), SAM's Runtime Interface Emulator, host networking (local/sam_local.py),
moto server as AWS (a Delete's user is seeded first, as `make run` does), and an HTTPS
receiver on 127.0.0.1 that prints the answer CloudFormation would get. The container gets
loopback endpoints and dummy credentials only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
IMAGE = "elasticache-user-resource/lambda-python:3.13"
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
CA_FILE = "local-test-ca.pem"  # written into the function's code directory, mounted at /var/task
INVOKE_SECONDS = 300


@dataclass
class Invocation:
    """What SAM CLI printed for one invocation, and the REPORT line's figures (ms)."""

    output: str
    init_ms: float
    duration_ms: float


def container_environment(elasticache: str, other_services: str) -> dict[str, str]:
    """The environment laid over SAM's: loopback endpoints and dummy credentials only."""
    return {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": other_services,
        "AWS_ENDPOINT_URL_ELASTICACHE": elasticache,
        # The CloudFormation stand-in (local/fake_cloudformation.py), when one is running.
        "AWS_ENDPOINT_URL_CLOUDFORMATION": os.environ.get("AWS_ENDPOINT_URL_CLOUDFORMATION", other_services),
        "RESPONSE_URL_ALLOWED_HOSTS": "127.0.0.1",
        "SSL_CERT_FILE": f"/var/task/{CA_FILE}",
    }


def trust_receiver(function: str = "ElastiCacheUserFunction") -> None:
    """Let the function in the container trust the receiver's throw-away CA."""
    from local.receiver import _authority

    _authority()[0].cert_pem.write_to_path(str(BUILD / function / CA_FILE))


def invoke(
    event: dict[str, Any],
    environment: dict[str, str],
    function: str = "ElastiCacheUserFunction",
    template: Path = BUILD / "template.yaml",
    cloudformation: Any = None,
) -> Invocation:
    """Run one event through `sam local invoke`; return what SAM printed and its REPORT.
    `cloudformation` (a FakeCloudFormation) is first shown the request under way."""
    if cloudformation is not None:
        from local.fake_cloudformation import sent

        sent(cloudformation, event)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(event, file)
    process_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SAM_LOCAL_ENV": json.dumps(environment),
        "PYTHONPATH": str(ROOT),
    }
    command = [
        str(SAM_PYTHON), "-m", "local.sam_local", "local", "invoke", function,
        "--event", file.name, "--template", str(template),
        "--invoke-image", IMAGE, "--skip-pull-image", "--parameter-overrides", "Architecture=x86_64",
    ]  # fmt: skip
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            command, env=process_env, capture_output=True, text=True, timeout=INVOKE_SECONDS, check=False, cwd=ROOT
        )
    finally:
        os.unlink(file.name)
    output = done.stdout + done.stderr
    report = re.search(r"Init Duration: ([\d.]+) ms\s+Duration: ([\d.]+) ms", output)
    if done.returncode != 0 or report is None:
        raise RuntimeError(f"sam local invoke failed ({done.returncode}):\n{output[-3000:]}")
    return Invocation(output, float(report.group(1)), float(report.group(2)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("events", nargs="+", help="event files (events/*.json)")
    args = parser.parse_args(argv)
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_ELASTICACHE"):
        os.environ.pop(name, None)
    from local.fake_cloudformation import cloudformation
    from local.receiver import https_receiver
    from local.run import moto_elasticache, seed_user

    status = 0
    with moto_elasticache() as endpoint, https_receiver() as receiver, cloudformation(receiver) as stand_in:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        os.environ.setdefault("PROVIDER_ID", "arn:aws:cloudformation:us-east-1:123456789012:stack/user-provider/local")
        trust_receiver()
        environment = {**container_environment(endpoint, endpoint), "PROVIDER_ID": os.environ["PROVIDER_ID"]}
        print(f"emulator: moto server on {endpoint}; receiver: HTTPS on 127.0.0.1:{receiver.port}")
        for path in args.events:
            event = json.loads(Path(path).read_text())
            event["ResponseURL"] = receiver.url(str(event.get("RequestId", "request")))
            if event.get("RequestType") == "Delete":
                seed_user(event)
            print(f"\n==> sam local invoke: {event.get('RequestType')} ({Path(path).name})")
            count, began = len(receiver.deliveries), time.monotonic()
            result = invoke(event, environment, cloudformation=stand_in)
            print(f"    container REPORT: Init Duration {result.init_ms} ms, Duration {result.duration_ms} ms")
            deliveries = receiver.wait_for(count + 1, timeout=5)
            if len(deliveries) == count:
                print("no answer was sent")
                status = 1
                continue
            print(f"<== CloudFormation received, {deliveries[-1].at - began:.2f} s after the request:")
            print(json.dumps(deliveries[-1].body, indent=2))
            status |= deliveries[-1].body.get("Status") != "SUCCESS"
    return status


if __name__ == "__main__":
    sys.exit(main())
