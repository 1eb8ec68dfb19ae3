"""What an action returns, and what it works with.

Done (answer SUCCESS), Failed (answer FAILED with a reason a person can act on) or Pending
(still under way at the deadline: hand over to a poll, which resumes from `resume`). The
one thing an action reports while working is the UserId of a user this request made
(`Claim`), so that any answer sent meanwhile (crhelper's timeout timer) names it and the
rollback deletes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field

from cloudformation.work import OnFailure, PollWork
from elasticache.groups import GroupMembership
from elasticache.users import UserLifecycle
from runtime.deadline import Deadline


# The other value types are NamedTuples: as immutable, and a fifth of a frozen dataclass's cost
# to define (0.08 against 0.42 ms; a cold start defines about twenty, bench/coldstart.py). The
# outcomes stay dataclasses: tuples of equal values are equal, and a Failed must never equal a
# Pending.
@dataclass(frozen=True)
class Done:
    physical_id: str
    data: Mapping[str, str] = field(default_factory=dict)
    # Two strings a positional call could swap: named only.
    _: KW_ONLY
    # What a person should know about a success (answered as its Reason).
    reason: str = ""
    # A Create or Update's user's AccessString as ElastiCache reports it (records.py keeps it).
    access_string: str = ""


@dataclass(frozen=True)
class Failed:
    reason: str
    physical_id: str


@dataclass(frozen=True)
class Pending:
    physical_id: str
    resume: PollWork


Outcome = Done | Failed | Pending


@dataclass
class Claim:
    """The UserId of the user this request made or took over, once it exists (per invocation)."""

    user_id: str | None = None


@dataclass(frozen=True)
class ActionContext:
    """What an action works with: the ElastiCache lifecycle, the time it has, its claim.

    `cleanup` is the deadline of undoing a failed request's changes: later than `deadline`
    (its budget is kept out of the work's), so a failure met at the deadline is still undone.
    """

    lifecycle: UserLifecycle
    groups: GroupMembership
    deadline: Deadline
    claim: Claim = field(default_factory=Claim)
    cleanup: Deadline | None = None
    # The resource's ServiceTimeout when it, not Lambda, ends this invocation's work: no poll
    # could answer in time, so work left at the deadline is a failure, undone here.
    service_timeout: float | None = None

    @property
    def undo_deadline(self) -> Deadline:
        return self.cleanup or self.deadline


def cut_short_id(request_type: str, user_id: str, on_failure: OnFailure | None) -> str:
    """The physical id of a FAILED answer sent while work on `user_id` is still under way (a
    hand-over that cannot be made, crhelper's timer in a poll), when nothing can be undone any
    more: a Create names the user it made (its rollback deletes it); work on a user the request
    did not make (a take-over), or an Update's replacement, answers what OnFailure says."""
    if on_failure is None or (on_failure.remove and request_type == "Create"):
        return user_id
    return on_failure.answer


def answer_fields(outcome: Done | Failed) -> tuple[str, str, dict[str, str], str]:
    """The answer's Status, Reason, Data and physical id, for a final outcome."""
    if isinstance(outcome, Failed):
        return "FAILED", outcome.reason, {}, outcome.physical_id
    return "SUCCESS", outcome.reason, dict(outcome.data), outcome.physical_id
