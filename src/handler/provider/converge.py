"""Applying a Work to one user: groups, ModifyUser and tags, in the order the API needs, and
undoing the group changes of a request that fails (`handlers.py` decides what to apply)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cloudformation.outcomes import ActionContext, Done, Failed, Outcome, Pending
from cloudformation.work import Converging, Work
from rules.property_table import ATTRIBUTES
from runtime.clients import bounded_by
from runtime.exceptions import DeadlineReached, UserHeldError, UserOperationError
from runtime.log import logger

if TYPE_CHECKING:
    from mypy_boto3_elasticache.type_defs import UserTypeDef


def user_data(user: UserTypeDef) -> dict[str, str]:
    """The Fn::GetAtt attributes of a user (strings, as CloudFormation passes them on)."""
    data = {}
    for attribute in ATTRIBUTES:
        value: object = user
        for key in attribute.path or (attribute.name,):
            value = value.get(key) if isinstance(value, Mapping) else None
        data[attribute.name] = ",".join(map(str, value)) if isinstance(value, list) else str(value or attribute.missing)
    return data


def converge(
    ctx: ActionContext,
    user_id: str,
    work: Work,
    passwords: tuple[str, ...] = (),
    before: Converging | None = None,
) -> Outcome:
    """Apply `work` to the user and wait until it is active: Done, Failed, or Pending with the
    work that remains. Groups first (joined before left, so a user moving between groups is
    never in none), then ModifyUser, then tags (they need an active user); but a change to
    password or IAM authentication goes before the joins that may depend on it. Any failure after
    a group change undoes the group changes the request really made (a join of a group the user
    was already in changed nothing, and is not undone), so a failed request leaves the user's
    groups as they were: those of earlier invocations come in `before` (the poll state), and
    a hand-over carries them on, each recorded once ElastiCache accepted it."""
    remaining = work
    changes = GroupChanges(list(before.joined), list(before.left), list(before.swapped)) if before else GroupChanges()
    try:
        ctx.lifecycle.ensure_owned(user_id, ctx.deadline)  # its groups, passwords, tags: only if ours
        if remaining.modify and remaining.modify.get("AuthenticationMode") and remaining.join:
            # A new password or IAM authentication first: a valkey group refuses a user without
            # one, and a join checked against the target would meet the old authentication.
            ctx.lifecycle.wait_until_active(user_id, ctx.deadline)
            ctx.lifecycle.modify(user_id, remaining.arguments(passwords), ctx.deadline)
            remaining = remaining._replace(modify={})
        if remaining.join or remaining.leave:
            ctx.lifecycle.wait_until_active(user_id, ctx.deadline)
        for group_id in remaining.join:
            ctx.groups.join(user_id, group_id, ctx.deadline, changes.joined, remaining.replaces, changes.swapped)
            remaining = remaining._replace(join=remaining.join[1:])
        for group_id in remaining.leave:
            ctx.groups.leave(user_id, group_id, ctx.deadline, accepted=changes.left)
            remaining = remaining._replace(leave=remaining.leave[1:])
        if remaining.modify:
            ctx.lifecycle.modify(user_id, remaining.arguments(passwords), ctx.deadline)
            remaining = remaining._replace(modify={})
        user = ctx.lifecycle.wait_until_active(user_id, ctx.deadline)  # its UserGroupIds, read back
        if remaining.tags:
            ctx.lifecycle.change_tags(user, remaining.tags, ctx.deadline)
    except DeadlineReached:
        if ctx.service_timeout is not None:
            return Failed(
                f"User '{user_id}' was still changing when the resource's ServiceTimeout "
                f"({ctx.service_timeout:.0f} s) was about to run out, after which CloudFormation no longer "
                "waits; the request stopped there and undid what it could (user groups take minutes when "
                "attached to clusters). Raise ServiceTimeout, then retry."
                + _undo_groups(ctx, user_id, changes, work.replaces),
                user_id,
            )
        if remaining.needs_passwords and remaining.secret is None:
            return Failed(
                f"User '{user_id}' stayed busy until the invocation deadline, before it accepted the new "
                "passwords; passwords written in the template are not carried to a later poll. Retry the "
                "update, or keep the passwords in Secrets Manager (PasswordSecretId)."
                + _undo_groups(ctx, user_id, changes, work.replaces),
                user_id,
            )
        return Pending(
            user_id, Converging(remaining, None, tuple(changes.joined), tuple(changes.left), tuple(changes.swapped))
        )
    except UserHeldError as error:
        # Held since the request began: its group changes are the operator's to judge, not undone
        # (an undo would put a locked-out user back into a group it left).
        made = [f"joined '{g}'" for g in changes.joined] + [f"left '{g}'" for g in changes.left]
        return Failed(str(error) + (f" Kept: {', '.join(made)}." if made else ""), user_id)
    except UserOperationError as error:
        return Failed(str(error) + _undo_groups(ctx, user_id, changes, work.replaces), user_id)
    logger.info("user active", extra={"user_id": user_id, "status": user["Status"]})
    return Done(user_id, user_data(user), access_string=str(user.get("AccessString", "")))


@dataclass
class GroupChanges:
    """The group changes the request really made so far (what a failure undoes)."""

    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    swapped: list[str] = field(default_factory=list)


def _undo_groups(ctx: ActionContext, user_id: str, changes: GroupChanges, replaced: str | None) -> str:
    """Leave the groups a failed request joined (swapping the replaced user back in where it
    was swapped out) and rejoin those it left, within the undo budget; returns what could not
    be undone, as a sentence for the reason ('' if all was)."""
    missed = []
    steps: list[tuple[str, str, Callable[[str], object]]] = []

    def swap_back(group_id: str) -> None:
        ctx.groups.check(str(replaced), "", (group_id,))  # a poll's state named it: checked as any join
        ctx.groups.join(str(replaced), group_id, ctx.undo_deadline, None, user_id)

    def rejoin(group_id: str) -> None:
        ctx.groups.check(user_id, "", (group_id,))
        ctx.groups.join(user_id, group_id, ctx.undo_deadline)

    for group_id in changes.joined:
        if group_id in changes.swapped and replaced:
            steps.append((group_id, "swap back", swap_back))
        else:
            steps.append((group_id, "leave", lambda g: ctx.groups.leave(user_id, g, ctx.undo_deadline)))
    steps += [(g, "rejoin", rejoin) for g in changes.left]
    for group_id, what, undo in steps:
        try:
            with bounded_by(ctx.undo_deadline):
                undo(group_id)
        except (UserOperationError, DeadlineReached) as error:
            logger.warning("could not undo a group change", extra={"user_group_id": group_id, "error": f"{error}"})
            missed.append(f"{what} '{group_id}'")
    if not missed:
        return ""
    return f" Its group changes could not all be undone: {', '.join(missed)} by hand."
