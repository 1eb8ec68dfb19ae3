"""Run the handler on CloudFormation events with no AWS account and no Docker.

    python -m local.run                      # the main job: a Delete, end to end, on moto
    python -m local.run lifecycle            # create, update in place, replace, delete
    python -m local.run events/create.json events/delete.json   # any events, in order

ElastiCache is an emulator on 127.0.0.1 (moto server; the lifecycle uses the stateful fake
in local/, as moto has no ModifyUser), and the ResponseURL of every event is rewritten to
an HTTPS receiver on 127.0.0.1, which prints the answer CloudFormation would receive.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
LOG_KEYS = (
    "user_id",
    "new_user_id",
    "changes",
    "user_group_id",
    "change",
    "status",
    "check",
    "checks",
    "reason",
    "attempt",
    "http_status",
    "error",
)


class ProgressHandler(logging.Handler):
    """Prints the handler's log lines as short progress lines, timed from their request."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.started = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        details = ", ".join(f"{k}={getattr(record, k)}" for k in LOG_KEYS if hasattr(record, k))
        print(
            f"  [+{time.monotonic() - self.started:5.2f}s] {record.getMessage()}" + (f" ({details})" if details else "")
        )


def show_engine(engine: Any, event: dict[str, Any]) -> None:
    """What a client of the cache sees now: AUTH with each password the template names, and
    the user's ACL on the engine."""
    for key in ("OldResourceProperties", "ResourceProperties"):
        properties = event.get(key) or {}
        name = properties.get("UserName", "")
        if not name:
            continue
        for password in properties.get("Passwords") or []:
            verdict = "OK" if engine.authenticates(name, password) else "refused (WRONGPASS)"
            print(f"engine: AUTH {name} {password[:4]}****  -> {verdict}")
        if key == "ResourceProperties" or event.get("RequestType") == "Delete":
            print(f"engine: ACL of {name}: {engine.canonical(name) or '(no such user)'}")


@contextmanager
def moto_elasticache() -> Iterator[str]:
    """moto server on 127.0.0.1 as every AWS service; yields its endpoint."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def seed_user(event: dict[str, Any]) -> None:
    """Create, as an earlier Create of this stack would have, the user a Delete event names."""
    import boto3

    from rules.properties import owner_tags

    properties = event["ResourceProperties"]
    tags = owner_tags(os.environ["PROVIDER_ID"], event["StackId"], event["LogicalResourceId"])
    boto3.client("elasticache").create_user(
        UserId=event["PhysicalResourceId"],
        UserName=properties["UserName"],
        Engine=properties["Engine"],
        AccessString=properties["AccessString"],
        Passwords=properties["Passwords"],
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    print(f"emulator: user '{event['PhysicalResourceId']}' exists, tagged as owned by {event['LogicalResourceId']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="*", default=["delete"], help="'delete', 'lifecycle', or event files")
    parser.add_argument("--timeout", type=float, default=120.0, help="Lambda timeout of each invocation (s)")
    parser.add_argument("--delete-seconds", type=float, default=3.0, help="lifecycle: how long a deletion takes")
    parser.add_argument("--json-logs", action="store_true", help="print the handler's own JSON log lines")
    args = parser.parse_args(argv)

    os.environ.update(
        {
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "RESPONSE_URL_ALLOWED_HOSTS": "127.0.0.1",
            "POWERTOOLS_LOG_LEVEL": "DEBUG",
            "POWERTOOLS_METRICS_NAMESPACE": "LocalRun",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "PROVIDER_ID": "arn:aws:cloudformation:us-east-1:123456789012:stack/user-provider/local",
        }
    )
    for name in ("AWS_PROFILE", "AWS_SAM_LOCAL", "AWS_ENDPOINT_URL_ELASTICACHE"):
        os.environ.pop(name, None)

    from local.context import LambdaContext
    from local.receiver import https_receiver

    lifecycle = args.what == ["lifecycle"]
    if lifecycle:
        files = ["create.json", "update.json", "update-replace.json", "delete.json"]
        files = [str(EVENTS / name) for name in files]
    elif args.what == ["delete"]:
        files = [str(EVENTS / "delete.json")]
    else:
        files = args.what

    with ExitStack() as stack:
        endpoint = stack.enter_context(moto_elasticache())
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        print(f"emulator: moto server (ElastiCache and every other service) on {endpoint}")
        fake = None
        if lifecycle:
            from local.engine import Engine
            from local.fake_elasticache import FakeElastiCache
            from local.fake_wire import serve

            engine = stack.enter_context(Engine())
            print(f"engine: redis-server on 127.0.0.1:{engine.port}, each user mirrored onto it")
            fake = FakeElastiCache(
                delete_seconds=args.delete_seconds,
                create_seconds=1.0,
                modify_seconds=1.0,
                group_modify_seconds=1.0,
                engine=engine,
            )
            # The platform stack's user groups, which the application's user joins and leaves:
            # their owner admits the application's stacks (app-*; docs/sharing.md).
            admits_app = {"elasticache-user-resource:members-from": "app-"}
            fake.add_group("app-readers", engine="valkey", tags=admits_app)
            fake.add_group("app-writers", engine="valkey", tags=admits_app)
            os.environ["AWS_ENDPOINT_URL_ELASTICACHE"] = stack.enter_context(serve(fake))
            print(
                f"emulator: stateful ElastiCache fake on {os.environ['AWS_ENDPOINT_URL_ELASTICACHE']} "
                f"(creating/modifying 1 s, deleting {args.delete_seconds:g} s); user groups app-readers, "
                "app-writers (changes take 1 s)"
            )
        receiver = stack.enter_context(https_receiver())
        print(f"receiver: HTTPS on 127.0.0.1:{receiver.port} stands in for the ResponseURL")
        from local.fake_cloudformation import cloudformation

        # CloudFormation shows each request under way before it sends it; the provider checks.
        stand_in = stack.enter_context(cloudformation(receiver))
        print(f"emulator: CloudFormation stand-in on {os.environ['AWS_ENDPOINT_URL_CLOUDFORMATION']}")

        from provider import app
        from runtime.log import SERVICE

        if not args.json_logs:
            service_logger = logging.getLogger(SERVICE)
            progress = ProgressHandler()
            service_logger.handlers = [progress]

        events = [(Path(path).name, json.loads(Path(path).read_text())) for path in files]
        if lifecycle:
            # Joins app-readers, moves to app-writers in place, and the replacement joins it too.
            for (_, event), groups in zip(events, (["app-readers"], ["app-writers"], ["app-writers"]), strict=False):
                event["ResourceProperties"]["UserGroupIds"] = groups
                if "OldResourceProperties" in event:
                    event["OldResourceProperties"]["UserGroupIds"] = ["app-readers"]
            events[2][1]["OldResourceProperties"]["UserGroupIds"] = ["app-writers"]
            # The stack delete that follows: CloudFormation deletes the replacement user too.
            replaced = events[2][1]
            final = {**events[3][1], "RequestId": "6f1e4a52-0006-4c8e-9d1a-000000000006"}
            final.update(
                PhysicalResourceId=replaced["ResourceProperties"]["UserId"],
                ResourceProperties=replaced["ResourceProperties"],
            )
            events.append(("stack delete", final))
        status = 0
        for name, event in events:
            event["ResponseURL"] = receiver.url(event.get("RequestId", "request"))
            if not lifecycle and event.get("RequestType") == "Delete" and args.what == ["delete"]:
                seed_user(event)
            print(
                f"\n==> {event.get('RequestType')} ({name}) physical id {event.get('PhysicalResourceId', '-')}"
                "  [times: seconds since this request]"
            )
            count = len(receiver.deliveries)
            began = time.monotonic()
            if not args.json_logs:
                progress.started = began
            app.lambda_handler(event, LambdaContext(timeout_seconds=args.timeout))
            deliveries = receiver.wait_for(count + 1, timeout=2.0)
            if len(deliveries) == count:
                print("no answer was sent (handed over to a poll, or the request was refused)")
                status = 1
                continue
            answer = deliveries[-1]
            print(f"<== CloudFormation received, {answer.at - began:.2f} s after the request:")
            print(json.dumps(answer.body, indent=2))
            shown = stand_in.stacks[event["StackId"]]
            resource = shown.resources[event["LogicalResourceId"]]
            print(
                f"cloudformation: stack {shown.status}; {resource.logical_id} {resource.status} {resource.physical_id}"
            )
            if answer.body.get("Status") != "SUCCESS":
                status = 1
            if fake is not None and fake.engine is not None:
                show_engine(fake.engine, event)
        if fake is not None:
            print(
                f"\nemulator saw {len(fake.calls)} calls: "
                + ", ".join(f"{a} x{fake.count(a)}" for a in dict.fromkeys(fake.actions()))
            )
            members = {g.group_id: [u for u in g.user_ids if not u.endswith("-default")] for g in fake.groups.values()}
            print("users left: " + (", ".join(u for u in fake.users if not u.endswith("-default")) or "none"))
            print("group members: " + ", ".join(f"{g}: {m or 'none'}" for g, m in members.items()))
    return status


if __name__ == "__main__":
    sys.exit(main())
