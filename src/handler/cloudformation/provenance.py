"""Is this very request under way? Asked of CloudFormation before any change.

Anyone who may deploy a stack that uses the provider may also invoke it with an event of their
own, and nothing in an event is signed. So the provider believes an event only once
CloudFormation shows the request it claims to be (docs/aws-behaviour.md, "Requests that
prove themselves", has the table and its sources):

- Create: the resource `CREATE_IN_PROGRESS`;
- Update (a rollback Update too): `UPDATE_IN_PROGRESS`, naming the event's PhysicalResourceId;
- Delete: `DELETE_IN_PROGRESS` naming the event's PhysicalResourceId; or, while the stack is
  `UPDATE_COMPLETE_CLEANUP_IN_PROGRESS` / `UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS`
  (DescribeStacks), the resource naming another id (the old user after a replacement);

and always the event's ResourceType. The stack must be in the function's own region (and,
as CloudFormation describes its caller's stacks only, its own account). A poll re-invocation is confirmed the
same way: its request is still under way. An Update's poll may name the user a replacement
made, so only the status is compared for it; the ownership tags (handlers.py) bind the user.

Nothing here changes anything: a request and a describe function in, a verdict out.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from cloudformation.request import CfnRequest
from runtime.deadline import Deadline, PollSchedule, Waiter
from runtime.exceptions import DeadlineReached, error_code

STACK_ARN = re.compile(r"arn:(?P<partition>[a-z-]+):cloudformation:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):stack/.+")
FUNCTION_ARN = re.compile(r"arn:(?P<partition>[a-z-]+):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:.+")
CLEANUP = frozenset({"UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"})
IN_PROGRESS = {"Create": "CREATE_IN_PROGRESS", "Update": "UPDATE_IN_PROGRESS", "Delete": "DELETE_IN_PROGRESS"}


class Verdict(NamedTuple):
    """`confirmed`: CloudFormation shows the request under way. `known` False: CloudFormation
    could not be asked (an error, throttling past the deadline), so nothing is known either way.
    `shown_id`: the physical id CloudFormation names for the resource ('' while it has none).
    `sent_at`: when CloudFormation sent the request (epoch seconds), if it shows it."""

    confirmed: bool
    reason: str = ""
    known: bool = True
    shown_id: str = ""
    sent_at: float | None = None


def sent_at(detail: Any) -> float | None:
    """When the resource's status last changed: StackResourceDetail's LastUpdatedTimestamp,
    "Time the status was updated" (botocore's model: required, a timestamp). CloudFormation
    sets the request's in-progress status when it sends the request, so ServiceTimeout runs
    from then, however long the event then waited in Lambda's queue."""
    stamp = detail.get("LastUpdatedTimestamp")
    return stamp.timestamp() if isinstance(stamp, datetime) and stamp.tzinfo is not None else None


def _not_shown(request: CfnRequest, status: str, shown: str) -> str:
    naming = f" naming '{shown}'" if shown else ""
    return (
        f"CloudFormation does not show this {request.request_type} under way: resource "
        f"{request.logical_id[:100]} is {status or 'unknown'}{naming}."
    )


def judge(request: CfnRequest, detail: Any, stack_status: str | None) -> Verdict:
    """The verdict on what DescribeStackResource (and, for a Delete, DescribeStacks) show."""
    status, shown = str(detail.get("ResourceStatus", "")), str(detail.get("PhysicalResourceId", "") or "")
    if detail.get("ResourceType") != request.resource_type:
        return Verdict(False, f"resource {request.logical_id[:100]} is not of type {request.resource_type[:60]}.")
    # The stack's name in the StackId is what consent admits: it must be the stack CloudFormation
    # found, not another name on the same stack's unique id.
    if detail.get("StackId", request.stack_id) != request.stack_id:
        return Verdict(
            False, f"its StackId is not the id CloudFormation gives the stack ({str(detail['StackId'])[:120]})."
        )
    wanted = IN_PROGRESS.get(request.request_type)
    # ElastiCache stores a UserId lowercase: 'VICTIM' names the user CloudFormation shows as 'victim',
    # so a cleanup's Delete of it would delete the resource's current user.
    same_id = shown.lower() == request.physical_id.lower()
    # The request's own status was set when it was sent; a cleanup's Delete shows an older one.
    own = Verdict(True, shown_id=shown, sent_at=sent_at(detail))
    if request.request_type == "Create" and status == wanted:
        return own
    if request.request_type == "Update" and status == wanted and (same_id or request.is_poll):
        return own
    if request.request_type == "Delete":
        if status == wanted and same_id:
            return own
        if stack_status in CLEANUP and not same_id:
            return Verdict(True, shown_id=shown)
    return Verdict(False, _not_shown(request, status, shown), shown_id=shown)


def same_place(stack_id: str, function_arn: str) -> str | None:
    """Why the stack is not in the function's own partition and region, or None. (Its account
    needs no check here: CloudFormation describes the caller's own account's stacks only, so
    another account's StackId is "does not exist"; and `sam local`'s emulator reports a made-up
    account in the function's ARN.)"""
    stack, function = STACK_ARN.fullmatch(stack_id), FUNCTION_ARN.fullmatch(function_arn)
    if stack is None:
        return "its StackId is not a CloudFormation stack ARN."
    place = ("partition", "region")
    if function is not None and stack.group(*place) != function.group(*place):
        return "its stack is in another region than the provider, which serves its own region's stacks only."
    return None


class Confirmation:
    """Asks CloudFormation about a request, re-reading while the status may still lag."""

    def __init__(self, cloudformation: Any, schedule: PollSchedule) -> None:
        self._cloudformation = cloudformation
        self._schedule = schedule

    def _read(self, request: CfnRequest) -> Verdict:
        detail = self._cloudformation.describe_stack_resource(
            StackName=request.stack_id, LogicalResourceId=request.logical_id
        )["StackResourceDetail"]
        stack_status = None
        if request.request_type == "Delete" and detail.get("PhysicalResourceId") != request.physical_id:
            # Only a cleanup phase explains a Delete of another id: the stack's status says.
            [stack] = self._cloudformation.describe_stacks(StackName=request.stack_id)["Stacks"]
            stack_status = str(stack.get("StackStatus", ""))
        return judge(request, detail, stack_status)

    def confirm(self, request: CfnRequest, function_arn: str, lag: Deadline) -> Verdict:
        """The verdict on `request`. A status that does not match yet is read again until
        `lag` (CloudFormation's reads may trail its writes); an answer CloudFormation refuses
        outright (no such stack or resource) is final at once."""
        place = same_place(request.stack_id, function_arn)
        if place:
            return Verdict(False, f"Request refused: {place}")
        waiter = Waiter(self._schedule, lag)
        while True:
            try:
                verdict = self._read(request)
            except ClientError as error:
                code = error_code(error)
                if code == "ValidationError":  # "Stack ... does not exist", "Resource ... does not exist"
                    return Verdict(False, f"CloudFormation does not know this request ({_message(error)}).")
                return Verdict(False, f"CloudFormation could not be asked about this request ({code}).", known=False)
            except (BotoCoreError, DeadlineReached, KeyError, ValueError) as error:
                return Verdict(False, f"CloudFormation could not be asked ({type(error).__name__}).", known=False)
            if verdict.confirmed:
                return verdict
            try:
                waiter.pause()
            except DeadlineReached:
                return verdict


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))[:160]
