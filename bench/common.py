"""What every benchmark section shares: the environment, table printing, the fake's wiring."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from pathlib import Path

import local  # noqa: F401 - puts the function's modules on the import path

ROOT = Path(__file__).resolve().parent.parent
HANDLER = ROOT / "src" / "handler"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/bench-stack/00000000-0000-0000-0000-000000000000"
# The tag with which a group's owner admits the bench's stack (docs/sharing.md).
CONSENT = {"elasticache-user-resource:members-from": "bench-"}

# The function's production settings: the defaults, not the tests' fast schedule.
ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "RESPONSE_URL_ALLOWED_HOSTS": "127.0.0.1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "PROVIDER_ID": "arn:aws:cloudformation:us-east-1:123456789012:stack/bench-provider/1",
}
TEST_ONLY = (
    "POLL_INITIAL_SECONDS",
    "POLL_GROWTH",
    "POLL_MAX_SECONDS",
    "DEADLINE_MARGIN_SECONDS",
    "THROTTLE_PAUSE_SECONDS",
    "AWS_SAM_LOCAL",
)


def prepare_environment() -> None:
    """Set the environment the handler reads at import (`local` puts its modules on the path)."""
    os.environ.update(ENVIRONMENT)
    for name in (*TEST_ONLY, "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ELASTICACHE"):
        os.environ.pop(name, None)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]], notes: Sequence[str] = ()) -> None:
    """Print a plain-text table with a title and footnotes."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for index, row in enumerate(cells):
        print("  " + " | ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  " + "-+-".join("-" * width for width in widths))
    for note in notes:
        print(f"  {note}")


def delete_event(response_url: str, user_id: str, request_id: str) -> dict[str, object]:
    """A CloudFormation Delete request for one user of the benchmark stack."""
    return {
        "RequestType": "Delete",
        "ResponseURL": response_url,
        "StackId": STACK_ID,
        "RequestId": request_id,
        "LogicalResourceId": logical_id(user_id),
        "ResourceType": "Custom::ElastiCacheUser",
        "PhysicalResourceId": user_id,
        "ResourceProperties": {"UserId": user_id, "UserName": user_id, "Engine": "valkey"},
    }


def logical_id(user_id: str) -> str:
    """Each user is its own resource of the benchmark stack (CloudFormation shows one request
    per resource at a time)."""
    return "BenchUser" + "".join(c for c in user_id if c.isalnum())


def owner_tags(user_id: str) -> dict[str, str]:
    from rules.properties import owner_tags as tags

    return tags(ENVIRONMENT["PROVIDER_ID"], STACK_ID, logical_id(user_id))
