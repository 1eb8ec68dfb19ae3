"""Repair of a drifted user (both opt-ins given: see app.py): the access string, the
declared group memberships and the template's tags (with the binding tag) are put back as
the record says, through the provider's own UserLifecycle and GroupMembership (busy-user
retries, read-back of every group change) within the run's deadline; never a membership of
a group whose owner withdrew consent (UserGroupConsent: reported only).

Never: passwords or the authentication type (they need the passwords), the engine or the
UserName (replacement), the ownership tags (the provider's IAM policy forbids changing
them), a user that is gone (re-creating it would need its passwords), or a user this
provider does not own (its provider tag is checked here, and by the drift role's IAM).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudformation.records import Record
from drift.compare import REPAIRABLE, is_ownership_tag, visible_tags
from elasticache.groups import GroupMembership
from elasticache.limits import SECRET_TAG
from elasticache.user_spec import TagChange
from elasticache.users import UserLifecycle
from runtime.deadline import Deadline
from runtime.exceptions import UserOperationError
from runtime.log import logger


@dataclass(frozen=True)
class Repairer:
    """What a repair works with: the provider's own lifecycle and group membership, the run's
    deadline, the group prefix the provider may touch, and the report's error list."""

    lifecycle: UserLifecycle
    groups: GroupMembership
    deadline: Deadline
    group_prefix: str
    errors: list[dict[str, Any]]


def _repairable_tag(key: str) -> bool:
    return not is_ownership_tag(key) or key == SECRET_TAG


def _tag_change(record: Record, actual: dict[str, str]) -> TagChange:
    """Back to the record's template tags and binding tag (UserLifecycle.change_tags sends the
    two kinds in calls of their own: the drift role allows them by two statements)."""
    expected = {k: v for k, v in {**record.tags, **record.ownership}.items() if _repairable_tag(k)}
    found = {k: v for k, v in visible_tags(actual).items() if _repairable_tag(k)}
    return TagChange(
        tuple(k for k in found if k not in expected), {k: v for k, v in expected.items() if found.get(k) != v}
    )


def repair(
    ctx: Repairer,
    user: dict[str, Any],
    tags: dict[str, str],
    record: Record,
    changes: list[dict[str, Any]],
    owned: bool,
) -> list[dict[str, Any]]:
    """Put back what can be; returns the changes repaired (the rest is said in the errors)."""
    user_id = str(user["UserId"])
    if not owned:
        ctx.errors.append({"UserId": user_id, "Error": "not repaired: the user no longer carries this provider's tag"})
        return []
    kept = [c["Property"] for c in changes if c["Property"] not in REPAIRABLE]
    kept += [f"Tags[{c['Key']}]" for c in changes if c["Property"] == "Tags" and not _repairable_tag(c["Key"])]
    if kept:
        ctx.errors.append({"UserId": user_id, "Error": f"not repaired (repair never changes them): {', '.join(kept)}"})
    done: list[dict[str, Any]] = []
    lifecycle, deadline = ctx.lifecycle, ctx.deadline
    try:
        by_property = {c["Property"]: c for c in changes}
        if "AccessString" in by_property:
            lifecycle.wait_until_active(user_id, deadline)
            lifecycle.modify(user_id, {"AccessString": record.access_string}, deadline)
            done.append(by_property["AccessString"])
        if "UserGroupIds" in by_property:
            withheld = by_property.get("UserGroupConsent", {}).get("UserGroupIds", [])
            lifecycle.wait_until_active(user_id, deadline)
            for group_id in by_property["UserGroupIds"]["Missing"]:
                if group_id.startswith(ctx.group_prefix) and group_id not in withheld:
                    ctx.groups.join(user_id, group_id, deadline)
            if withheld:
                ctx.errors.append(
                    {"UserId": user_id, "Error": f"not rejoined (its owner withdrew consent): {', '.join(withheld)}"}
                )
            else:
                done.append(by_property["UserGroupIds"])
        tag_change = _tag_change(record, tags)
        if tag_change:
            lifecycle.change_tags(lifecycle.wait_until_active(user_id, deadline), tag_change, deadline, tags)
            done.extend(c for c in changes if c["Property"] == "Tags" and _repairable_tag(c["Key"]))
    except UserOperationError as error:
        logger.warning("drift repair stopped", extra={"user_id": user_id, "error": str(error)})
        ctx.errors.append({"UserId": user_id, "Error": f"repair stopped: {error}"[:500]})
    if done:
        logger.info("drift repaired", extra={"user_id": user_id, "properties": sorted({c["Property"] for c in done})})
    return done
