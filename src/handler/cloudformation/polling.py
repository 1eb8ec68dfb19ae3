"""The poll hand-over's EventBridge rule and Lambda permission: set up, record progress, remove.

crhelper writes these without looking at the answers. EventBridge's PutTargets and
RemoveTargets "can partially fail if too many requests are made at the same time" (API
references): HTTP 200 with FailedEntryCount > 0. crhelper then leaves a rule with no target
(nobody answers: CloudFormation waits until ServiceTimeout), or removes the permission while
the target stays, after which DeleteRule is refused and an enabled rule holding the presigned
ResponseURL is left for ever. So here every answer is checked and partial failures are
retried within the deadline, and the order keeps each intermediate state harmless:

- set up: PutRule, AddPermission, then `commit()` (no answer went out meanwhile; the poll
  owns the answer from now on), then PutTargets. An invocation killed before PutTargets
  leaves a rule with no target, which invokes nothing; `remove` (the failure notifier calls
  it with the request's deterministic names) cleans it up.
- remove: RemoveTargets first; the permission and the rule go only once no target is left,
  so a target that stayed can still invoke the function and a later poll retries the clean-up.

Nothing here knows crhelper; `cfn_resource.py` and the failure paths share it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from runtime.clients import aws_client, bounded_by
from runtime.deadline import Deadline, PollSchedule, Waiter
from runtime.exceptions import DeadlineReached, error_code
from runtime.log import logger

TARGET_ID = "1"
# Partial failures are transient ("too many requests at the same time"): retried quickly.
RETRY = PollSchedule(initial=0.2, growth=2.0, maximum=1.0)


class PollSetupError(Exception):
    """The poll could not be set up; what was made has been removed where it could be."""


class PollRule(NamedTuple):
    """One request's poll: its rule, the function it invokes and the permission statement that
    lets EventBridge invoke it (the rule's name, so that both can be found from the request)."""

    name: str
    function: str
    statement: str


def rule_arn_for(function_arn: str, name: str) -> str:
    """The ARN of the rule `name` in the function's partition, region and account."""
    _, partition, _, region, account = function_arn.split(":")[:5]
    return f"arn:{partition}:events:{region}:{account}:rule/{name}"


def function_arn(rule_arn: str, function: str) -> str:
    """The ARN of `function` in the rule's partition, region and account."""
    _, partition, _, region, account = rule_arn.split(":")[:5]
    return f"arn:{partition}:lambda:{region}:{account}:function:{function}"


class Polling:
    """EventBridge and Lambda calls of a hand-over, each answer checked."""

    def __init__(self, events: Any, lambda_: Any) -> None:
        self._events = events
        self._lambda = lambda_

    @classmethod
    def bounded(cls, margin: float) -> Polling:
        """With the cached EventBridge and Lambda clients whose attempts fit `margin`."""
        return cls(aws_client("events", margin), aws_client("lambda", margin))

    def _all_entries(self, action: str, call: Callable[[], Any], deadline: Deadline) -> None:
        """Run a PutTargets / RemoveTargets call until no entry fails, within `deadline`."""
        waiter = Waiter(RETRY, deadline)
        while True:
            failed = int(call().get("FailedEntryCount") or 0)
            if not failed:
                return
            logger.warning("partial failure; retrying", extra={"step": action, "failed_entries": failed})
            waiter.pause()

    def put_input(self, rule_arn: str, function: str, text: str, deadline: Deadline) -> None:
        """Point the rule's one target at `function` with `text` as its Input."""
        target = {"Id": TARGET_ID, "Arn": function_arn(rule_arn, function), "Input": text}
        name = rule_arn.split("/")[-1]
        self._all_entries("PutTargets", lambda: self._events.put_targets(Rule=name, Targets=[target]), deadline)

    def set_up(
        self,
        rule: PollRule,
        interval_minutes: int,
        input_for: Callable[[str], str],
        commit: Callable[[], bool],
        deadline: Deadline,
        undo: Deadline,
    ) -> bool:
        """Make the poll by `deadline`; False (and nothing left behind) if `commit()` says an
        answer went out meanwhile. Raises PollSetupError, after removing what it made (by
        `undo`, a later deadline: a step cut short by the first must still be undone)."""
        made: list[str] = []
        committed = False
        try:
            unit = "minute" if interval_minutes == 1 else "minutes"
            arn = self._events.put_rule(
                Name=rule.name, ScheduleExpression=f"rate({interval_minutes} {unit})", State="ENABLED"
            )["RuleArn"]
            made.append("rule")
            if self._add_permission(rule, arn):
                made.append("permission")
            committed = commit()
            if not committed:
                logger.warning("an answer went out during the hand-over: the poll is removed again")
                self._undo(rule, made, undo)
                return False
            self.put_input(arn, rule.function, input_for(arn), deadline)
        except (ClientError, BotoCoreError, DeadlineReached, KeyError) as error:
            logger.error("hand-over to polling failed; removing what it made", extra={"error": type(error).__name__})
            self._undo(rule, made, undo)
            raise PollSetupError(type(error).__name__) from error
        return True

    def _add_permission(self, rule: PollRule, rule_arn: str) -> bool:
        """Let the rule invoke the function; False when a duplicate delivery of the same request
        already did (its statement serves both, and is not this call's to remove)."""
        try:
            self._lambda.add_permission(
                FunctionName=rule.function,
                StatementId=rule.statement,
                Action="lambda:InvokeFunction",
                Principal="events.amazonaws.com",
                SourceArn=rule_arn,
            )
        except ClientError as error:
            if error_code(error) != "ResourceConflictException":
                raise
            return False
        return True

    def _undo(self, rule: PollRule, made: list[str], undo: Deadline) -> None:
        """Remove what a failed set-up made (it put no target, or its PutTargets failed)."""
        with bounded_by(undo):
            if "permission" in made:
                self._quietly("RemovePermission", lambda: self._remove_permission(rule))
            if "rule" in made:
                self._quietly("DeleteRule", lambda: self._events.delete_rule(Name=rule.name))

    def remove(self, rule: PollRule, deadline: Deadline) -> bool:
        """Remove the poll: targets, then permission, then rule. True once all are gone; False
        leaves the permission and the rule for a later poll to retry (its target may remain)."""
        try:
            self._all_entries(
                "RemoveTargets", lambda: self._events.remove_targets(Rule=rule.name, Ids=[TARGET_ID]), deadline
            )
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                logger.error("poll targets not removed: kept for a later poll", extra={"error": error_code(error)})
                return False
        except (BotoCoreError, DeadlineReached) as error:
            logger.error("poll targets not removed: kept for a later poll", extra={"error": type(error).__name__})
            return False
        permission = self._quietly("RemovePermission", lambda: self._remove_permission(rule))
        return self._quietly("DeleteRule", lambda: self._events.delete_rule(Name=rule.name)) and permission

    def _remove_permission(self, rule: PollRule) -> None:
        self._lambda.remove_permission(FunctionName=rule.function, StatementId=rule.statement)

    @staticmethod
    def _quietly(step: str, action: Callable[[], object]) -> bool:
        """Run one clean-up step; True if done or already gone, any other error is logged."""
        try:
            action()
        except (ClientError, BotoCoreError, DeadlineReached) as error:
            if isinstance(error, ClientError) and error_code(error) == "ResourceNotFoundException":
                logger.info("already removed", extra={"step": step})
                return True
            logger.error("clean-up step failed", extra={"step": step, "error": type(error).__name__})
            return False
        return True


def remove_poll(rule: PollRule, seconds: float, margin: float = 2.5) -> bool:
    """Remove a poll within `seconds`, for the failure paths (start-up failure, the notifier):
    never raises, so that the answer still goes out."""
    deadline = Deadline(seconds)
    try:
        with bounded_by(deadline):
            return Polling.bounded(margin).remove(rule, deadline)
    except Exception as error:  # noqa: BLE001 - a failure path must still answer.
        logger.error("poll not removed", extra={"rule": rule.name, "error": type(error).__name__})
        return False
