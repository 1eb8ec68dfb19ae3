"""Run the handler on CloudFormation events with no AWS account and no Docker.

    python -m local.run                      # every file in events/, in order
    python -m local.run events/create.json events/delete.json   # any events, in order
    python -m local.run lifecycle            # create, update in place, replace, delete
    python -m local.run delete               # make run: one Delete, end to end, on moto server

ElastiCache is the stateful fake in local/ over HTTP, with a real redis-server behind it (moto
server has no ModifyUser and no DescribeUserGroups; `delete` alone runs on moto), Secrets
Manager its stand-in, holding the secret events/create-secret.json names; the user groups
the events join exist, with their owner's consent. The ResponseURL of every event is rewritten
to an HTTPS receiver on 127.0.0.1, which prints the answer CloudFormation would receive. Every
Create starts the sample stack afresh: what the events before it left is deleted first, as a
stack delete would, and so is what the last event leaves.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
# The order a stack would see them in; any other file of events/ follows, by name.
ORDER = ("create.json", "update.json", "update-replace.json", "delete.json", "create-secret.json")
LIFECYCLE = ("create.json", "update.json", "update-replace.json", "delete.json")
# The platform stack's user groups, which the events' users join, and the tag by which their
# owner consents to members from any provider (docs/sharing.md).
GROUPS = ("app-readers", "app-writers")
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


def every_event() -> list[str]:
    """Every file in events/: the ones a stack sees in a known order first, then the others."""
    names = sorted(path.name for path in EVENTS.glob("*.json"))
    known = [name for name in ORDER if name in names]
    return [str(EVENTS / name) for name in known + [name for name in names if name not in known]]


def secret_values(events: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """The secrets the events name, with a value in AWS's ElastiCache rotation shape."""
    secrets = {}
    for _, event in events:
        properties = event.get("ResourceProperties") or {}
        if "PasswordSecretId" in properties:
            name = properties["UserName"]
            secrets[properties["PasswordSecretId"]] = json.dumps(
                {
                    "username": name,
                    "password": "Local-Secret-Passw0rd-" + name,
                    "user_arn": f"arn:aws:elasticache:us-east-1:123456789012:user:{properties['UserId']}",
                }
            )
    return secrets


def stack_delete(stand_in: Any, event: dict[str, Any], declared: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The Deletes CloudFormation sends when the stack of `event` is deleted: one for each
    resource still there, with the properties it was last declared with."""
    left = stand_in.delete_stack(event["StackId"]) if event["StackId"] in stand_in.stacks else []
    return [
        {
            **event,
            "RequestType": "Delete",
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": logical_id,
            "PhysicalResourceId": physical_id,
            "ResourceProperties": declared[logical_id],
        }
        for logical_id, physical_id in left
        if physical_id and logical_id in declared
    ]


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
    parser.add_argument("what", nargs="*", help="event files, or 'lifecycle', or 'delete'; none: every file in events/")
    parser.add_argument("--timeout", type=float, default=120.0, help="Lambda timeout of each invocation (s)")
    parser.add_argument("--delete-seconds", type=float, default=1.0, help="how long a deletion takes on the fake")
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
    for name in ("AWS_PROFILE", "AWS_SAM_LOCAL", "AWS_ENDPOINT_URL_ELASTICACHE", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
        os.environ.pop(name, None)

    from local.receiver import https_receiver

    lifecycle, on_moto = args.what == ["lifecycle"], args.what == ["delete"]
    if lifecycle:
        files = [str(EVENTS / name) for name in LIFECYCLE]
    elif on_moto:
        files = [str(EVENTS / "delete.json")]
    else:
        files = args.what or every_event()
        missing = [path for path in files if not Path(path).is_file()]
        if missing:
            parser.error(f"no such event file: {', '.join(missing)} (the events are in {EVENTS})")
    events = [(Path(path).name, json.loads(Path(path).read_text())) for path in files]

    with ExitStack() as stack:
        endpoint = stack.enter_context(moto_elasticache())
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        print(f"emulator: moto server (ElastiCache and every other service) on {endpoint}")
        fake = None
        if not on_moto:
            from elasticache.consent import ALL_STACKS
            from elasticache.limits import CONSENT_TAG
            from local.engine import Engine
            from local.fake_elasticache import FakeElastiCache
            from local.fake_secrets import FakeSecrets, serve_secrets
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
            for group_id in GROUPS:
                fake.add_group(group_id, engine="valkey", tags={CONSENT_TAG: ALL_STACKS})
            os.environ["AWS_ENDPOINT_URL_ELASTICACHE"] = stack.enter_context(serve(fake))
            print(
                f"emulator: stateful ElastiCache fake on {os.environ['AWS_ENDPOINT_URL_ELASTICACHE']} "
                f"(creating/modifying 1 s, deleting {args.delete_seconds:g} s); user groups {', '.join(GROUPS)} "
                f"(changes take 1 s; tagged {CONSENT_TAG}={ALL_STACKS})"
            )
            secrets = FakeSecrets()
            os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = stack.enter_context(serve_secrets(secrets))
            for secret_id, value in secret_values(events).items():
                secrets.add(secret_id, value)
                print(f"emulator: Secrets Manager stand-in holds the secret {secret_id}")
        receiver = stack.enter_context(https_receiver())
        print(f"receiver: HTTPS on 127.0.0.1:{receiver.port} stands in for the ResponseURL")
        from local.fake_cloudformation import cloudformation

        # CloudFormation shows each request under way before it sends it; the provider checks.
        stand_in = stack.enter_context(cloudformation(receiver))
        print(f"emulator: CloudFormation stand-in on {os.environ['AWS_ENDPOINT_URL_CLOUDFORMATION']}")

        from provider import app
        from runtime.log import SERVICE

        progress = ProgressHandler()
        if not args.json_logs:
            logging.getLogger(SERVICE).handlers = [progress]

        if lifecycle:
            # Joins app-readers, moves to app-writers in place, and the replacement joins it too.
            for (_, event), groups in zip(events, (["app-readers"], ["app-writers"], ["app-writers"]), strict=False):
                event["ResourceProperties"]["UserGroupIds"] = groups
                if "OldResourceProperties" in event:
                    event["OldResourceProperties"]["UserGroupIds"] = ["app-readers"]
            events[2][1]["OldResourceProperties"]["UserGroupIds"] = ["app-writers"]

        status = 0
        declared: dict[str, dict[str, Any]] = {}  # logical id -> its properties, as last answered SUCCESS
        queue = list(events)
        if not on_moto:
            queue.append(("stack delete", {}))  # whatever the last event leaves
        for name, event in queue:
            if not on_moto and (not event or event.get("RequestType") == "Create"):
                previous = event or events[-1][1]
                for delete in stack_delete(stand_in, previous, declared):
                    status |= invoke(app, delete, "stack delete", receiver, stand_in, fake, progress, args)
            if not event:
                continue
            if on_moto:
                seed_user(event)
            status |= invoke(app, event, name, receiver, stand_in, fake, progress, args)
            answered = receiver.deliveries[-1].body if receiver.deliveries else {}
            if answered.get("Status") == "SUCCESS" and event.get("RequestType") in ("Create", "Update"):
                declared[event["LogicalResourceId"]] = event["ResourceProperties"]
        if fake is not None:
            print(
                f"\nemulator saw {len(fake.calls)} calls: "
                + ", ".join(f"{a} x{fake.count(a)}" for a in dict.fromkeys(fake.actions()))
            )
            members = {g.group_id: [u for u in g.user_ids if not u.endswith("-default")] for g in fake.groups.values()}
            print("users left: " + (", ".join(u for u in fake.users if not u.endswith("-default")) or "none"))
            print("group members: " + ", ".join(f"{g}: {m or 'none'}" for g, m in members.items()))
    return status


def invoke(
    app: Any,
    event: dict[str, Any],
    name: str,
    receiver: Any,
    stand_in: Any,
    fake: Any,
    progress: ProgressHandler,
    args: argparse.Namespace,
) -> int:
    """One request through the handler, its answer printed: 0 if it was SUCCESS, else 1."""
    from local.context import LambdaContext

    event["ResponseURL"] = receiver.url(event.get("RequestId", "request"))
    print(
        f"\n==> {event.get('RequestType')} ({name}) physical id {event.get('PhysicalResourceId', '-')}"
        "  [times: seconds since this request]"
    )
    count = len(receiver.deliveries)
    began = progress.started = time.monotonic()
    app.lambda_handler(event, LambdaContext(timeout_seconds=args.timeout))
    deliveries = receiver.wait_for(count + 1, timeout=2.0)
    if len(deliveries) == count:
        print("no answer was sent (handed over to a poll, or the request was refused)")
        return 1
    answer = deliveries[-1]
    print(f"<== CloudFormation received, {answer.at - began:.2f} s after the request:")
    print(json.dumps(answer.body, indent=2))
    shown = stand_in.stacks[event["StackId"]]
    resource = shown.resources[event["LogicalResourceId"]]
    print(f"cloudformation: stack {shown.status}; {resource.logical_id} {resource.status} {resource.physical_id}")
    if fake is not None and fake.engine is not None:
        show_engine(fake.engine, event)
    return 0 if answer.body.get("Status") == "SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main())
