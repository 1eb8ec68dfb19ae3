"""What a poll's state may name. A poll re-invocation is confirmed like any request (its request
is still under way), but its state is only JSON in an EventBridge target: anyone who may invoke
the provider can send an edited one during their own genuine operation. So nothing in it is
believed before it is checked against the request, before any change:

- a state that is not one the provider writes, or not of the request's kind, is refused whole;
- every user it acts on carries this request's ownership tags or is the id CloudFormation shows
  for the resource: its own user (converged, or removed), the user a replacement replaces (it is
  swapped back into groups on a failure);
- the id a failure answers with is the one CloudFormation shows, or this Create's "made nothing";
- every group it names is within UserGroupIdPrefix, and every group it joins passes
  `GroupMembership.check` again (a group rejoined or swapped back when a failure is undone is
  checked there, in `converge._undo_groups`).

Each refusal is a FAILED answer that changes nothing and says why.
"""

from __future__ import annotations

from cloudformation.outcomes import ActionContext, Failed, Outcome, Pending
from cloudformation.request import CfnRequest
from cloudformation.work import Converging, Deleting, PollWork, Removing, Work
from runtime.exceptions import DeadlineReached, UserHeldError, UserOperationError

REMEDY = (
    "A poll carries only the state the provider wrote for its request; this one was edited. Nothing was changed. "
    "Retry the stack operation."
)


def refusal(request: CfnRequest, ctx: ActionContext) -> Outcome | None:
    """A FAILED answer for a poll whose state names what this request may not touch, or None.
    Checks cut short by the deadline leave converging work to the next poll, which checks again
    (the answer it may give past ServiceTimeout was checked first: `_answerable`)."""
    state = request.state.resume
    try:
        why = _problem(request, ctx)
    except UserOperationError as error:
        why = str(error)
    except DeadlineReached:
        if isinstance(state, Converging):
            return Pending(request.physical_id, state)
        why = "the checks of its state ran out of time"
    if why is None:
        return None
    return Failed(f"Poll refused: {why.rstrip('.')}. {REMEDY}", answer_id(request))


def answer_id(request: CfnRequest) -> str:
    """The physical id of a refusal: never one the edited state or event chose."""
    if request.request_type == "Delete":
        return request.physical_id  # CloudFormation showed this Delete under way for it
    return request.shown_id or request.not_created_id


def _problem(request: CfnRequest, ctx: ActionContext) -> str | None:
    state = request.state.resume
    if request.state.problem:
        return f"its state is not one the provider writes ({request.state.problem})"
    if not _of_its_kind(request, state):
        return f"its state is not one a {request.request_type} hands over"
    user_id = request.physical_id.lower()
    outside = request.scope.outside(user_id)
    if outside:
        return outside
    if isinstance(state, Removing):
        return _answerable(request, request.physical_id) or _removable(request, ctx, state.user_id)
    if isinstance(state, Converging):
        return _converging(request, ctx, user_id, state)
    return None


def _of_its_kind(request: CfnRequest, state: PollWork | None) -> bool:
    if request.request_type == "Delete":
        return state is None or isinstance(state, Deleting)
    return not isinstance(state, Deleting)


def _answerable(request: CfnRequest, answer: str) -> str | None:
    """Why a failure may not answer with `answer`: only CloudFormation's id, or this Create's
    id that names nothing (a rollback Delete of any other would delete that user)."""
    if answer in (request.shown_id, request.not_created_id) and answer:
        return None
    return f"it would answer with '{answer[:100]}', which CloudFormation does not show for this resource"


def _removable(request: CfnRequest, ctx: ActionContext, user_id: str) -> str | None:
    """Why the user a failed request made may not be removed (its deletion checks again)."""
    if user_id == request.shown_id:
        return f"it would remove user '{user_id}', which CloudFormation names for this resource"
    outside = request.scope.outside(user_id)
    user = ctx.lifecycle.settled(user_id, ctx.deadline) if outside is None else None
    # A user already deleting refuses tag reads; nothing is asked of it but to wait until it is gone.
    if user is not None and user["Status"] != "deleting":
        ctx.lifecycle.ensure_owned(user_id, ctx.deadline)
    return outside


def _converging(request: CfnRequest, ctx: ActionContext, user_id: str, state: Converging) -> str | None:
    work = state.work
    if state.on_failure is not None and (why := _answerable(request, state.on_failure.answer)):
        return why
    groups = (*work.join, *work.leave, *state.joined, *state.left, *state.swapped)
    outside = request.scope.outside(user_id, groups)
    if outside:
        return outside
    try:
        ctx.lifecycle.ensure_owned(user_id, ctx.deadline)
    except UserHeldError:
        pass  # its own user, held since: the work answers that (and undoes what it changed)
    if work.replaces is not None:
        replaced = work.replaces.lower()
        if replaced == user_id:
            return "it names its own user as the one it replaces"
        # Even the user CloudFormation shows: an undo would swap it back into its groups, which
        # must not undo an operator's hold on it.
        ctx.lifecycle.ensure_owned(replaced, ctx.deadline)
    ctx.groups.check(user_id, authentication_of(work), work.join)
    return None


def authentication_of(work: Work) -> str:
    """The authentication a Work gives the user ('' when it keeps the user's own, which
    ElastiCache judges against the group when the user joins)."""
    if work.modify.get("NoPasswordRequired"):
        return "no-password-required"
    return str(work.modify.get("AuthenticationMode", {}).get("Type", ""))
