"""The actions of Custom::ElastiCacheUser. Each takes a CfnRequest and returns an outcome
(`outcomes.py`: Done, Failed or Pending).

They never touch CloudFormation's answer or crhelper; `cfn_resource.py` maps outcomes to
answers. A request that fails loses nothing: what it changed is undone (only what it really
changed), a user it made is removed, and its answer names no user it did not make, so that
CloudFormation's rollback deletes nothing else (`OnFailure`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from cloudformation.outcomes import ActionContext, Done, Failed, Outcome, Pending, cut_short_id
from cloudformation.request import CfnRequest
from cloudformation.work import Converging, Deleting, OnFailure, Removing, Work, on_failure_of
from elasticache.limits import ADOPTED_TAG
from elasticache.user_spec import Ownership, TagChange, modify_arguments, observed_spec
from rules.envelope import adopts_existing_user, is_user_id
from runtime.clients import bounded_by
from runtime.exceptions import (
    DeadlineReached,
    DeletionCutShort,
    PropertyError,
    UserAlreadyExistsError,
    UserOperationError,
)
from runtime.log import logger

if TYPE_CHECKING:
    from rules.properties import UserProperties


def outcome_of(request: CfnRequest, ctx: ActionContext) -> Outcome:
    """Run the action for a request (or a poll); never raises."""
    if ctx.service_timeout is not None and ctx.undo_deadline.remaining() <= 0:
        # ServiceTimeout, counted from when CloudFormation sent the request, leaves no time.
        return Failed(request.late_reason(), request.physical_id or request.not_created_id)
    outcome = _outcome(request, ctx)
    if isinstance(outcome, Pending) and ctx.service_timeout is not None:
        return _past_service_timeout(request, outcome, ctx.service_timeout)
    return outcome


def _past_service_timeout(request: CfnRequest, pending: Pending, timeout: float) -> Failed:
    """Work still under way when ServiceTimeout ends the first invocation: no poll could answer
    in time, so answer now. A user a failed Create made and could not finish removing is named:
    CloudFormation's rollback Delete then removes it."""
    state = pending.resume
    late = f"still under way when the resource's ServiceTimeout ({timeout:.0f} s) was about to run out."
    if isinstance(state, Removing):
        if request.request_type == "Create":
            return Failed(f"{state.reason} The user '{state.user_id}' it made is being removed: {late}", state.user_id)
        return Failed(
            f"{state.reason} The removal of user '{state.user_id}' it made was {late} Check it, and delete it by hand "
            "if it is still there.",
            pending.physical_id,
        )
    if isinstance(state, Deleting):
        return Failed(f"The deletion of user '{pending.physical_id}' was {late} Retry the delete.", pending.physical_id)
    return Failed(
        f"The change of user '{pending.physical_id}' was {late} Raise ServiceTimeout, then retry.",
        cut_short_id(request.request_type, pending.physical_id, on_failure_of(state)),
    )


def _outcome(request: CfnRequest, ctx: ActionContext) -> Outcome:
    try:
        if request.is_poll:
            from provider.poll_checks import refusal  # polls only: a first invocation imports less

            refused = refusal(request, ctx)
            if refused is not None:
                return refused
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
            return Pending(outcome.physical_id, outcome.resume._replace(on_failure=on_failure))
        return outcome
    if on_failure.remove:
        return _remove_failed_user(ctx, outcome.physical_id, outcome.reason, on_failure.answer)
    return Failed(outcome.reason, on_failure.answer)


def _parse_in_scope(request: CfnRequest) -> UserProperties:
    """The validated properties, within what the provider stack allows (before any API call)."""
    from rules.properties import parse_properties  # Create and Update only: a Delete imports less at cold start

    properties = parse_properties(request.properties)
    refusal = request.scope.refusal(properties.spec.user_id, properties.group_ids, properties.adopt_existing)
    if refusal:
        raise PropertyError(refusal)
    return properties


def _desired(request: CfnRequest, properties: UserProperties) -> tuple[tuple[str, ...], dict[str, str]]:
    """The passwords (read from their secret if need be) and the tags, ownership included."""
    from rules.properties import binding_tags
    from rules.secrets_source import passwords_for

    return passwords_for(properties), {**properties.spec.tags, **binding_tags(properties), **request.owner.tags}


def create(request: CfnRequest, ctx: ActionContext, replaces: str | None = None) -> Outcome:
    """Create the user (or take over one this resource owns or may adopt). `replaces`: the
    physical id of the user an Update replaces, which every failure of it answers with."""
    from provider.converge import converge  # Create and Update only: a Delete imports less at cold start

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
        return _take_over(request, ctx, properties, passwords, exists, fallback, replaces)
    except UserOperationError as error:
        return Failed(str(error), fallback)
    ctx.claim.user_id = spec.user_id
    outcome = converge(ctx, spec.user_id, Work(secret=properties.secret, join=properties.group_ids, replaces=replaces))
    return _settle(ctx, outcome, OnFailure(fallback, remove=True))


def _take_over(
    request: CfnRequest,
    ctx: ActionContext,
    properties: UserProperties,
    passwords: tuple[str, ...],
    exists: Exception,
    fallback: str,
    replaces: str | None = None,
) -> Outcome:
    """Bring an existing user in line with the properties, if this resource owns it or may adopt it.

    A user this resource already owns is met again on a retried or duplicated Create and on
    the rollback of a replacement; any other user only with AdoptExistingUser. The user was
    not made by this request, so no failure names it: the rollback Delete must leave it.
    """
    from provider.converge import converge
    from rules.properties import binding_tags

    spec = properties.spec
    existing = ctx.lifecycle.settled(spec.user_id, ctx.deadline)  # tags are readable only then
    if existing is None:
        return Failed(f"User '{spec.user_id}' was reported to exist but cannot be found; retry.", fallback)
    found = ctx.lifecycle.tags_of(existing, ctx.deadline)
    if held := Ownership.hold(spec.user_id, found):
        return Failed(held, fallback)
    owned = request.owner.describe_mismatch(found) is None
    if not owned and not properties.adopt_existing:
        return Failed(str(exists), fallback)
    if not owned and (refusal := request.owner.owned_elsewhere(spec.user_id, found)):
        return Failed(refusal, fallback)
    if existing.get("UserName") != spec.user_name:
        return Failed(
            f"User '{spec.user_id}' already exists with another UserName, which cannot be changed in place.", fallback
        )
    logger.info("taking over existing user", extra={"user_id": spec.user_id, "owned": owned})
    ctx.lifecycle.adopt(spec.user_id)
    # Only the ownership tags first: the IAM policy allows changes to owned users only (and
    # forbids removing those tags again). The template's tags follow once ModifyUser succeeded.
    # A user taken over is marked so in the same call: should the invocation die from here on,
    # the failure notifier must not take it for a user this request made (its rollback would
    # delete it).
    adopted = {} if owned else {ADOPTED_TAG: request.request_id[:256]}
    ctx.lifecycle.change_tags(existing, TagChange(set={**request.owner.tags, **adopted}), ctx.deadline, found)
    # The secret binding (so that the rotation function may rotate it) in a call of its own:
    # the IAM policy allows that reserved key only alone.
    binding = binding_tags(properties)
    if binding:
        ctx.lifecycle.change_tags(
            existing, TagChange(set=binding), ctx.deadline, {**found, **request.owner.tags, **adopted}
        )
    wanted = dataclasses.replace(spec, passwords=passwords)
    arguments = modify_arguments(observed_spec(existing), wanted, passwords_changed=True)
    template_tags = TagChange(set={k: v for k, v in spec.tags.items() if k not in request.owner.tags})
    work = Work.of(arguments, template_tags, properties.secret, join=properties.group_ids)._replace(replaces=replaces)
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
    from provider.converge import converge
    from rules.properties import binding_tags, needs_replacement, parse_properties
    from rules.secrets_source import passwords_for

    physical_id = request.physical_id
    try:
        new = _parse_in_scope(request)
    except PropertyError as error:
        return Failed(str(error), physical_id)
    try:
        old: UserProperties | None = parse_properties(request.old_properties or {})
    except PropertyError:
        old = None  # unreadable old properties: everything is set again
    target = new.spec
    if target.user_id != physical_id.lower():
        logger.info("replacement", extra={"new_user_id": target.user_id})
        try:  # the old user is swapped out of its groups: only when it is ours and not held
            ctx.lifecycle.ensure_owned(physical_id.lower(), ctx.deadline)
        except UserOperationError as error:
            return Failed(str(error), physical_id)
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
    # Before anything changes, against the target: every group the user will be in when its
    # authentication changes (a group it stays in must take the new one too), else the joins.
    checked = new.group_ids if before is None or before.authentication != target.authentication else work.join
    try:
        ctx.groups.check(target.user_id, target.authentication, checked)
    except UserOperationError as error:
        return Failed(str(error), physical_id)
    outcome = converge(ctx, target.user_id, work, passwords_for(new) if work.needs_passwords else ())
    return _settle(ctx, outcome, OnFailure(physical_id, remove=False))


def resume(request: CfnRequest, ctx: ActionContext) -> Outcome:
    """A poll after a Create or Update was handed over: apply what remains, then wait; or
    finish removing the user a failed request made, then answer its failure."""
    from provider.converge import converge
    from rules.secrets_source import reference_passwords

    state = request.state.resume
    if isinstance(state, Removing):
        return _remove_failed_user(ctx, state.user_id, state.reason, request.physical_id)
    if not isinstance(state, Converging):
        state = Converging()  # nothing readable is left to apply: wait until the user is active
    work = state.work
    passwords = reference_passwords(work.secret) if work.needs_passwords and work.secret else ()
    return _settle(ctx, converge(ctx, request.physical_id, work, passwords, state), state.on_failure)


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
        adopt, groups = state.adopt, state.groups
    else:
        adopt, groups = adopts_existing_user(request.properties), ()
    # Only the user CloudFormation names for the resource may be taken over to be deleted: in a
    # cleanup phase the status alone confirms a Delete, whatever id it (or its poll) names.
    adopt = adopt and request.scope.allow_adoption and physical_id == request.shown_id
    user_id = physical_id.lower()
    try:
        groups = ctx.lifecycle.delete(user_id, ctx.deadline, request.owner, adopt, groups)
        # DeleteUser removed it from its groups: answer once they are active again, so that the
        # stack's next change to them (often deleting them) does not meet a modifying group.
        # The role may read only groups under UserGroupIdPrefix: the others are not waited for.
        unread = request.scope.unreadable(groups)
        ctx.groups.wait_active((g for g in groups if g not in unread), user_id, ctx.deadline)
    except DeletionCutShort as cut:
        return Pending(physical_id, Deleting(adopt, cut.groups))
    except DeadlineReached:
        return Pending(physical_id, Deleting(adopt, groups))
    except UserOperationError as error:
        return Failed(str(error), physical_id)
    if unread:
        logger.info("not waiting for user groups outside UserGroupIdPrefix", extra={"user_group_ids": list(unread)})
    return Done(physical_id, reason=request.scope.unread_note(unread))
