"""`make drift`: three users made through the provider, three changes behind the stack's back
(through ElastiCache's API, as someone in the console would make them), the drift report,
a repair, and the report again. Every service is a stand-in on 127.0.0.1: the stateful
ElastiCache fake over a real redis-server, Parameter Store, EventBridge. No AWS account.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from local.context import LambdaContext, demo_environment

ROOT = Path(__file__).resolve().parent.parent
USERS = ("orders", "billing", "reports")
GROUP = "app-readers"


def main() -> int:
    demo_environment(ALLOW_DRIFT_REPAIR="true", DRIFT_CALLS_PER_SECOND="20")
    import local  # noqa: F401 - the function's modules on the import path
    from local.engine import Engine
    from local.fake_cloudformation import cloudformation
    from local.fake_elasticache import FakeElastiCache
    from local.fake_handover import FakeHandOver, serve_hand_over
    from local.fake_ssm import FakeSsm, serve_ssm
    from local.fake_wire import serve
    from local.receiver import https_receiver

    logging.getLogger("elasticache-user-resource").setLevel(logging.ERROR)
    with ExitStack() as stack:
        engine = stack.enter_context(Engine())
        fake = FakeElastiCache(engine=engine)
        fake.add_group(GROUP, tags={"elasticache-user-resource:members-from": "app-"})  # its owner admits app-*
        os.environ["AWS_ENDPOINT_URL_ELASTICACHE"] = stack.enter_context(serve(fake))
        ssm = FakeSsm()
        os.environ["AWS_ENDPOINT_URL_SSM"] = stack.enter_context(serve_ssm(ssm))
        events = FakeHandOver()
        os.environ["AWS_ENDPOINT_URL_EVENTBRIDGE"] = stack.enter_context(serve_hand_over(events))
        receiver = stack.enter_context(https_receiver())
        stack.enter_context(cloudformation(receiver))  # CloudFormation shows each Create under way
        print(
            f"engine: redis-server on 127.0.0.1:{engine.port}; ElastiCache fake, Parameter Store, EventBridge, "
            "CloudFormation"
        )
        import boto3

        from drift import app as drift
        from provider import app

        for user_id in USERS:
            event = json.loads((ROOT / "events" / "create.json").read_text())
            event["ResponseURL"] = receiver.url(user_id)
            event["LogicalResourceId"] = user_id.capitalize() + "User"
            properties = event["ResourceProperties"]
            properties.update(UserId=user_id, UserName=user_id, AccessString="on ~app:* +@read", UserGroupIds=[GROUP])
            app.lambda_handler(event, LambdaContext(120))
            print(f"Create {user_id}: {receiver.wait_for(1)[-1].body['Status']}")
            receiver.reset()
        fake.add_user("hand-made", access_string="on ~* +@all", tags={"team": "ops"})
        print(f"records: {', '.join(sorted(ssm.parameters))}")

        elasticache = boto3.client("elasticache")
        print("\nbehind the stack's back:")
        elasticache.modify_user(UserId="orders", AccessString="on ~* +@all")
        print("  orders: AccessString widened to 'on ~* +@all'")
        elasticache.modify_user_group(UserGroupId=GROUP, UserIdsToRemove=["billing"])
        print(f"  billing: removed from {GROUP}")
        arn = fake.users["reports"].arn
        elasticache.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "team", "Value": "marketing"}])
        print("  reports: tag team changed to 'marketing'")
        fake.wait_until(lambda api: api.groups[GROUP].status == "active" and not api.groups[GROUP].removing)

        def run(title: str, event: dict[str, Any]) -> dict[str, Any]:
            report: dict[str, Any] = drift.lambda_handler(event, LambdaContext(300, function_name="drift"))
            print(f"\n{title}")
            print(rendered(report))
            return report

        first = run("drift report:", {})
        print(f"EventBridge received {len(events.events)} 'ElastiCache user drift' events")
        run('repair ({"repair": true}, AllowDriftRepair=true):', {"repair": True})
        last = run("drift report after the repair:", {})
        return 0 if len(first["drifted"]) == len(USERS) and not last["drifted"] else 1


def rendered(report: dict[str, Any]) -> str:
    """The report's JSON, one user a line, StackIds cut to their stack name (for a terminal)."""
    lines = [f'{{"checked": {report["checked"]},']
    for key in ("drifted", "repaired", "unknown", "errors"):
        entries = [{**e, "StackId": e["StackId"].split("/")[1] + "/…"} if "StackId" in e else e for e in report[key]]
        if not entries:
            lines.append(f' "{key}": [],')
            continue
        lines.append(f' "{key}": [')
        lines += [f"   {json.dumps(e, ensure_ascii=False)}," for e in entries]
        lines[-1] = lines[-1].rstrip(",")
        lines.append("  ],")
    lines[-1] = lines[-1].rstrip(",") + "}"
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
