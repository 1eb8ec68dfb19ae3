"""The actions of Custom::ElastiCacheUser. Each takes a CfnRequest and returns an outcome
(`outcomes.py`: Done, Failed or Pending).

They never touch CloudFormation's answer or crhelper; `cfn_resource.py` maps outcomes to
answers. A request that fails loses nothing: what it changed is undone (only what it really
changed), a user it made is removed, and its answer names no user it did not make, so that
CloudFormation's rollback deletes nothing else (`OnFailure`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from clients import bounded_by
from exceptions import DeadlineReached, DeletionCutShort, PropertyError, UserAlreadyExistsError, UserOperationError
from log import logger
from outcomes import ActionContext, Done, Failed, Outcome, Pending
from properties import UserProperties, adopts_existing_user, binding_tags, is_user_id, needs_replacement
from properties import parse_properties as parse
from property_table import ATTRIBUTES
from request import CfnRequest
from secrets_source import passwords_for, reference_passwords
from user_spec import TagChange, modify_arguments, observed_spec
from work import Converging, Deleting, OnFailure, Removing, Work, on_failure_of

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


def outcome_of(request: CfnRequest, ctx: ActionContext) -> Outcome:
    """Run the action for a request (or a poll); never raises."""
    try:
        if request.request_type == "Delete":
            return delete(request, ctx)
        if request.is_poll:
            return resume(request, ctx)
        return create(request, ctx) if request.request_type == "Create" else update(request, ctx)
    except (PropertyError, UserOperationError) as error:
        return _escaped(request, ctx, str(error))
    except DeadlineReached:
        return _escaped(
            request,
            ctx,
            "The invocation ran out of time before the change could be started; ElastiCache may be "
            "slow to answer. Retry the stack operation.",
        )
    except Exception as error:  # noqa: BLE001 - CloudFormation must hear of any failure.
        logger.exception("unexpected error")
        return _escaped(
            request,
            ctx,
            f"Internal error ({type(error).__name__}) in the custom resource; see the function's logs for "
            f"request {request.request_id}.",
        )


def _escaped(request: CfnRequest, ctx: ActionContext, reason: str) -> Outcome:
    """The answer to a failure no action caught: as the work's OnFailure says (a poll carries
    it), else naming the user this Create made (its rollback deletes it) or echoing the id."""
    on_failure = on_failure_of(request.state.resume) if request.is_poll else None
    made = ctx.claim.user_id or (request.physical_id if on_failure else None)
    if on_failure is None and request.request_type == "Update" and made and made != request.physical_id:
        on_failure = OnFailure(request.physical_id, remove=True)  # a replacement made before the failure
    if on_failure is not None and made:
        return _settle(ctx, Failed(reason, made), on_failure)
    return Failed(reason, made or request.physical_id or request.not_created_id)


def _settle(ctx: ActionContext, outcome: Outcome, on_failure: OnFailure | None) -> Outcome:
    """Apply OnFailure to an outcome: a Pending carries it, a Failed answers as it says."""
    if on_failure is None or isinstance(outcome, Done):
        return outcome
    if isinstance(outcome, Pending):
        if isinstance(outcome.resume, Converging):
            return Pending(outcome.physical_id, dataclasses.replace(outcome.resume, on_failure=on_failure))
        return outcome
    if on_failure.remove:
        return _remove_failed_user(ctx, outcome.physical_id, outcome.reason, on_failure.answer)
    return Failed(outcome.reason, on_failure.answer)


def converge(ctx: ActionContext, user_id: str, work: Work, passwords: tuple[str, ...] = ()) -> Outcome:
    """Apply `work` to the user and wait until it is active: Done, Failed, or Pending with the
    work that remains. Groups first (joined before left, so a user moving between groups is
    never in none), then ModifyUser, then tags (they need an active user). Any failure after
    a group change undoes the group changes this call really made (a join of a group the user
    was already in changed nothing, and is not undone), so a failed request leaves the user's
    groups as they were."""
    remaining, changes = work, GroupChanges()
    try:
        ctx.lifecycle.ensure_owned(user_id, ctx.deadline)  # its groups, passwords, tags: only if ours
        if remaining.join or remaining.leave:
            ctx.lifecycle.wait_until_active(user_id, ctx.deadline)
        for group_id in remaining.join:
            if ctx.groups.join(user_id, group_id, ctx.deadline):
                changes.joined.append(group_id)
            remaining = dataclasses.replace(remaining, join=remaining.join[1:])
        for group_id in remaining.leave:
            if ctx.groups.leave(user_id, group_id, ctx.deadline):
                changes.left.append(group_id)
            remaining = dataclasses.replace(remaining, leave=remaining.leave[1:])
        if remaining.modify:
            ctx.lifecycle.modify(user_id, remaining.arguments(passwords), ctx.deadline)
            remaining = dataclasses.replace(remaining, modify={})
        user = ctx.lifecycle.wait_until_active(user_id, ctx.deadline)  # its UserGroupIds, read back
        if remaining.tags:
            ctx.lifecycle.change_tags(user, remaining.tags, ctx.deadline)
    except DeadlineReached:
        if remaining.needs_passwords and remaining.secret is None:
            return Failed(
                f"User '{user_id}' stayed busy until the invocation deadline, before it accepted the new "
                "passwords; passwords written in the template are not carried to a later poll. Retry the "
                "update, or keep the passwords in Secrets Manager (PasswordSecretId)."
                + _undo_groups(ctx, user_id, changes),
                user_id,
            )
        return Pending(user_id, Converging(remaining))
    except UserOperationError as error:
        return Failed(str(error) + _undo_groups(ctx, user_id, changes), user_id)
    logger.info("user active", extra={"user_id": user_id, "status": user["Status"]})
    return Done(user_id, user_data(user))


@dataclass
class GroupChanges:
    """The group changes one converge really made (what a failure undoes)."""

    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


def _undo_groups(ctx: ActionContext, user_id: str, changes: GroupChanges) -> str:
    """Leave the groups a failed request joined and rejoin those it left, within the undo
    budget; returns what could not be undone, as a sentence for the reason ('' if all was)."""
    missed = []
    steps = [(g, "leave", ctx.groups.leave) for g in changes.joined] + [
        (g, "rejoin", ctx.groups.join) for g in changes.left
    ]
    for group_id, what, undo in steps:
        try:
            with bounded_by(ctx.undo_deadline):
                undo(user_id, group_id, ctx.undo_deadline)
        except (UserOperationError, DeadlineReached) as error:
            logger.warning("could not undo a group change", extra={"user_group_id": group_id, "error": f"{error}"})
            missed.append(f"{what} '{group_id}'")
    if not missed:
        return ""
    return f" Its group changes could not all be undone: {', '.join(missed)} by hand."


def _parse_in_scope(request: CfnRequest) -> UserProperties:
    """The validated properties, within what the provider stack allows (before any API call)."""
    properties = parse(request.properties)
    outside = request.scope.outside(properties.spec.user_id, properties.group_ids)
    if outside:
        raise PropertyError(outside)
    if properties.adopt_existing and not request.scope.allow_adoption:
        raise PropertyError(
            "AdoptExistingUser is 'true', but the provider stack's AllowAdoption parameter is 'false', so "
            "this provider takes over no existing user. Deploy the provider with AllowAdoption=true, or "
            "remove AdoptExistingUser."
        )
    return properties


def _desired(request: CfnRequest, properties: UserProperties) -> tuple[tuple[str, ...], dict[str, str]]:
    """The passwords (read from their secret if need be) and the tags, ownership included."""
    return passwords_for(properties), {**properties.spec.tags, **binding_tags(properties), **request.owner.tags}


def create(request: CfnRequest, ctx: ActionContext, replaces: str | None = None) -> Outcome:
    """Create the user (or take over one this resource owns or may adopt). `replaces`: the
    physical id of the user an Update replaces, which every failure of it answers with."""
    fallback = replaces or request.not_created_id
    try:
        properties = _parse_in_scope(request)
        passwords, tags = _desired(request, properties)
    except PropertyError as error:
        return Failed(str(error), fallback)
    spec = dataclasses.replace(properties.spec, passwords=passwords, tags=tags)
    try:
        ctx.groups.check(spec.user_id, spec.authentication, properties.group_ids)
        ctx.lifecycle.create(spec)
    except UserAlreadyExistsError as exists:
        return _take_over(request, ctx, properties, passwords, exists, fallback)
    except UserOperationError as error:
        return Failed(str(error), fallback)
    ctx.claim.user_id = spec.user_id
    outcome = converge(ctx, spec.user_id, Work(secret=properties.secret, join=properties.group_ids))
    return _settle(ctx, outcome, OnFailure(fallback, remove=True))


def _take_over(
    request: CfnRequest,
    ctx: ActionContext,
    properties: UserProperties,
    passwords: tuple[str, ...],
    exists: Exception,
    fallback: str,
) -> Outcome:
    """Bring an existing user in line with the properties, if this resource owns it or may adopt it.

    A user this resource already owns is met again on a retried or duplicated Create and on
    the rollback of a replacement; any other user only with AdoptExistingUser. The user was
    not made by this request, so no failure names it: the rollback Delete must leave it.
    """
    spec = properties.spec
    existing = ctx.lifecycle.settled(spec.user_id, ctx.deadline)  # tags are readable only then
    if existing is None:
        return Failed(f"User '{spec.user_id}' was reported to exist but cannot be found; retry.", fallback)
    found = ctx.lifecycle.tags_of(existing, ctx.deadline)
    owned = request.owner.describe_mismatch(found) is None
    if not owned and not (properties.adopt_existing and request.owner.untagged(found)):
        return Failed(str(exists), fallback)  # never a user another owner's tags name
    if existing.get("UserName") != spec.user_name:
        return Failed(
            f"User '{spec.user_id}' already exists with another UserName, which cannot be changed in place.", fallback
        )
    logger.info("taking over existing user", extra={"user_id": spec.user_id, "owned": owned})
    ctx.lifecycle.adopt(spec.user_id)
    # Only the ownership tags first: the IAM policy allows changes to owned users only (and
    # forbids removing those tags again). The template's tags follow once ModifyUser succeeded.
    ctx.lifecycle.change_tags(existing, TagChange(set=request.owner.tags), ctx.deadline, found)
    wanted = dataclasses.replace(spec, passwords=passwords)
    arguments = modify_arguments(observed_spec(existing), wanted, passwords_changed=True)
    template_tags = TagChange(set={k: v for k, v in spec.tags.items() if k not in request.owner.tags})
    work = Work.of(arguments, template_tags, properties.secret, join=properties.group_ids)
    return _settle(ctx, converge(ctx, spec.user_id, work, passwords), OnFailure(fallback, remove=False))


def _remove_failed_user(ctx: ActionContext, user_id: str, reason: str, answer: str) -> Outcome:
    """Delete the user a failed request made, then answer FAILED with `answer`; a removal the
    invocation cannot finish is handed over (the poll removes it, then answers)."""
    try:
        with bounded_by(ctx.undo_deadline):
            ctx.lifecycle.delete(user_id, ctx.undo_deadline)
    except DeadlineReached:
        return Pending(answer, Removing(user_id, reason))
    except UserOperationError as error:
        logger.warning("failed request: its user could not be removed", extra={"user_id": user_id, "error": f"{error}"})
        return Failed(
            f"{reason} The user '{user_id}' it made could not be removed ({error}); delete it by hand.", answer
        )
    ctx.claim.user_id = None
    return Failed(reason, answer)


def update(request: CfnRequest, ctx: ActionContext) -> Outcome:
    """Change the user in place, or replace it when its UserId changes."""
    physical_id = request.physical_id
    try:
        new = _parse_in_scope(request)
    except PropertyError as error:
        return Failed(str(error), physical_id)
    try:
        old: UserProperties | None = parse(request.old_properties or {})
    except PropertyError:
        old = None  # unreadable old properties: everything is set again
    target = new.spec
    if target.user_id != physical_id.lower():
        logger.info("replacement", extra={"new_user_id": target.user_id})
        return create(request, ctx, replaces=physical_id)
    before = old.spec if old else None
    replace = needs_replacement(before, target) if before else []
    if replace:
        # As for a custom-named native resource: the new user cannot share the old one's id.
        return Failed(
            f"Changing {', '.join(replace)} replaces the user, and the new user needs a new UserId: "
            "change UserId as well.",
            physical_id,
        )
    changed = old is None or (target.authentication, target.passwords, new.secret) != (
        old.spec.authentication,
        old.spec.passwords,
        old.secret,
    )
    old_groups = old.group_ids if old else ()
    work = Work.of(
        modify_arguments(before, target, passwords_changed=changed),
        TagChange.between({**before.tags, **binding_tags(old)} if before else {}, {**target.tags, **binding_tags(new)}),
        new.secret,
        join=tuple(g for g in new.group_ids if g not in old_groups),
        leave=tuple(g for g in old_groups if g not in new.group_ids),
    )
    try:
        ctx.groups.check(target.user_id, target.authentication, work.join)  # before anything changes
    except UserOperationError as error:
        return Failed(str(error), physical_id)
    outcome = converge(ctx, target.user_id, work, passwords_for(new) if work.needs_passwords else ())
    return _settle(ctx, outcome, OnFailure(physical_id, remove=False))


def resume(request: CfnRequest, ctx: ActionContext) -> Outcome:
    """A poll after a Create or Update was handed over: apply what remains, then wait; or
    finish removing the user a failed request made, then answer its failure."""
    state = request.state.resume
    if isinstance(state, Removing):
        return _remove_failed_user(ctx, state.user_id, state.reason, request.physical_id)
    if not isinstance(state, Converging):
        state = Converging()  # nothing readable is left to apply: wait until the user is active
    work = state.work
    passwords = reference_passwords(work.secret) if work.needs_passwords and work.secret else ()
    return _settle(ctx, converge(ctx, request.physical_id, work, passwords), state.on_failure)


def delete(request: CfnRequest, ctx: ActionContext) -> Outcome:
    """Delete the user if this resource owns it, and wait until it is gone."""
    physical_id = request.physical_id
    if not is_user_id(physical_id):
        logger.info("physical id is not a UserId: no user was created, nothing to delete")
        return Done(physical_id)
    outside = request.scope.outside(physical_id)
    if outside:
        return Failed(outside, physical_id)
    state = request.state.resume
    if request.is_poll and isinstance(state, Deleting):
        adopt, groups = state.adopt and request.scope.allow_adoption, state.groups
    else:
        adopt, groups = adopts_existing_user(request.properties) and request.scope.allow_adoption, ()
    user_id = physical_id.lower()
    try:
        groups = ctx.lifecycle.delete(user_id, ctx.deadline, request.owner, adopt, groups)
        # DeleteUser removed it from its groups: answer once they are active again, so that the
        # stack's next change to them (often deleting them) does not meet a modifying group.
        ctx.groups.wait_active(groups, user_id, ctx.deadline)
    except DeletionCutShort as cut:
        return Pending(physical_id, Deleting(adopt, cut.groups))
    except DeadlineReached:
        return Pending(physical_id, Deleting(adopt, groups))
    except UserOperationError as error:
        return Failed(str(error), physical_id)
    return Done(physical_id)
