"""A CloudFormation stand-in: the statuses DescribeStackResource and DescribeStacks show while
CloudFormation sends a custom resource its requests, served over HTTP on 127.0.0.1 in the query
protocol boto3 speaks (the wire of local/fake_wire.py), throttling included.

Two sides, as in the real service:
- the API the provider calls (`call`: DescribeStackResource, DescribeStacks; every action goes
  through `call`, judged by the caller's role (local/iam_gate.py), then by `authorize`);
- what CloudFormation itself does (`begin` before it sends a request, `answered` when an answer
  arrives), which the code that plays CloudFormation (tests/conftest.py, local/run.py,
  local/sam_invoke.py, bench/) drives, so the statuses follow each genuine sequence
  (docs/aws-behaviour.md, "Requests that prove themselves"):

- create: stack CREATE_IN_PROGRESS, resource CREATE_IN_PROGRESS (no id yet);
- update in place: UPDATE_IN_PROGRESS, the resource UPDATE_IN_PROGRESS naming its id;
- replacement: the same, naming the old id; then UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, the
  resource UPDATE_COMPLETE naming the new id while the old one's Delete runs;
- a failed update with replacement: UPDATE_ROLLBACK_IN_PROGRESS, the rollback Update's
  resource UPDATE_IN_PROGRESS naming the new id; then UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS,
  the resource UPDATE_COMPLETE naming the old id while the new one's Delete runs;
- a failed create: ROLLBACK_IN_PROGRESS, the resource DELETE_IN_PROGRESS naming the failed
  answer's id; then ROLLBACK_COMPLETE;
- stack deletion (a stack whose create failed too, from ROLLBACK_COMPLETE or ROLLBACK_FAILED):
  DELETE_IN_PROGRESS, the resource DELETE_IN_PROGRESS naming its id.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from local import iam_gate
from local.fake_wire import serve, take_fault
from local.http_fake import ServiceError, TokenBucket

CUSTOM = "Custom::ElastiCacheUser"
CLEANUP = ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
# What an operation's status becomes once no resource is in progress (a cleanup first, if
# a replacement left an old id to delete).
FINISHED = {
    "CREATE_IN_PROGRESS": "CREATE_COMPLETE",
    "UPDATE_IN_PROGRESS": "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_IN_PROGRESS": "UPDATE_ROLLBACK_COMPLETE",
    "ROLLBACK_IN_PROGRESS": "ROLLBACK_COMPLETE",
    "DELETE_IN_PROGRESS": "DELETE_COMPLETE",
    CLEANUP[0]: "UPDATE_COMPLETE",
    CLEANUP[1]: "UPDATE_ROLLBACK_COMPLETE",
}


@dataclass
class FakeResource:
    logical_id: str
    resource_type: str
    status: str
    physical_id: str = ""
    # When the status last changed (epoch seconds): LastUpdatedTimestamp, "Time the status was
    # updated" (StackResourceDetail); for a request's in-progress status, when it was sent.
    changed: float = field(default_factory=time.time)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "status" and value != getattr(self, "status", None):
            super().__setattr__("changed", time.time())
        super().__setattr__(name, value)


@dataclass
class FakeStack:
    stack_id: str
    status: str
    resources: dict[str, FakeResource] = field(default_factory=dict)
    # (logical id, physical id) a replacement left behind: deleted in the cleanup phase.
    to_clean: list[tuple[str, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        parts = self.stack_id.split("/")
        return parts[1] if len(parts) > 2 else self.stack_id


@dataclass
class FakeCloudFormation(TokenBucket):
    """The stand-in's state; every call is recorded in `calls`."""

    stacks: dict[str, FakeStack] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    # Consumed in order by matching calls: (action or "*", kind), as in the ElastiCache fake.
    faults: list[tuple[str, str]] = field(default_factory=list)
    slow_seconds: float = 3.0
    # Requests per second above which the API answers Throttling (None: no limit).
    rate_limit: float | None = None
    # The hook every action passes (e.g. an IAM evaluator): raise ServiceError to refuse it.
    authorize: Callable[[str, dict[str, str]], None] | None = None
    # False: `begin` is not called for the requests a test sends (it forges them).
    plays_cloudformation: bool = True
    clock: Callable[[], float] = time.monotonic
    # Request id -> (request type, stack id, logical id) of every request CloudFormation sent.
    requests: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    throttled: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self._bucket = self.rate_limit or 0.0
        self._bucket_at = self.clock()

    def reset(self) -> None:
        with self.lock:
            self.stacks.clear()
            self.calls.clear()
            self.faults.clear()
            self.requests.clear()
            self.rate_limit, self.authorize, self.plays_cloudformation, self.throttled = None, None, True, 0

    def count(self, action: str) -> int:
        with self.lock:
            return sum(1 for name, _ in self.calls if name == action)

    # What CloudFormation does ----------------------------------------------------------------

    def put(
        self, stack_id: str, stack_status: str, logical_id: str = "", status: str = "", physical_id: str = ""
    ) -> None:
        """Set a stack's status (and one resource's), as a test scene needs."""
        with self.lock:
            stack = self.stacks.setdefault(stack_id, FakeStack(stack_id, stack_status))
            stack.status = stack_status
            if logical_id:
                stack.resources[logical_id] = FakeResource(logical_id, CUSTOM, status, physical_id)

    def queued(self, event: Mapping[str, Any], seconds: float) -> None:
        """`event`'s request was sent (`begin`) `seconds` ago, and has waited in Lambda's queue since."""
        with self.lock:
            stack = self.stacks[str(event.get("StackId"))]
            stack.resources[str(event.get("LogicalResourceId"))].changed -= seconds

    def begin(self, event: Mapping[str, Any]) -> None:
        """CloudFormation is about to send `event`: show it under way, as in its genuine sequence."""
        kind, logical = str(event.get("RequestType")), str(event.get("LogicalResourceId"))
        stack_id, physical = str(event.get("StackId")), str(event.get("PhysicalResourceId") or "")
        with self.lock:
            self.requests[str(event.get("RequestId"))] = (kind, stack_id, logical)
            # A stack first met through an Update or a Delete was made earlier and has settled.
            stack = self.stacks.setdefault(
                stack_id, FakeStack(stack_id, "CREATE_IN_PROGRESS" if kind == "Create" else "CREATE_COMPLETE")
            )
            resource = stack.resources.setdefault(
                logical, FakeResource(logical, str(event.get("ResourceType") or CUSTOM), "")
            )
            if kind == "Create":
                if stack.status not in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"):
                    # A new stack, or a resource added by an update of a settled one.
                    settled = stack.status.endswith("_COMPLETE") and stack.status != "DELETE_COMPLETE"
                    stack.status = "UPDATE_IN_PROGRESS" if settled else "CREATE_IN_PROGRESS"
                resource.status, resource.physical_id = "CREATE_IN_PROGRESS", ""
            elif kind == "Update":
                if stack.status != "UPDATE_ROLLBACK_IN_PROGRESS":
                    stack.status = "UPDATE_IN_PROGRESS"
                resource.status, resource.physical_id = "UPDATE_IN_PROGRESS", physical
            elif kind == "Delete":
                self._begin_delete(stack, resource, physical)

    def _begin_delete(self, stack: FakeStack, resource: FakeResource, physical: str) -> None:
        if stack.status in CLEANUP and (resource.logical_id, physical) in stack.to_clean:
            return  # the resource names the id that replaced this one
        if stack.status in ("CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS") or resource.status == "CREATE_FAILED":
            stack.status = "ROLLBACK_IN_PROGRESS" if stack.status != "UPDATE_ROLLBACK_IN_PROGRESS" else stack.status
        elif stack.status not in ("UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS"):
            stack.status = "DELETE_IN_PROGRESS"
        resource.status, resource.physical_id = "DELETE_IN_PROGRESS", physical

    def answered(self, body: Mapping[str, Any]) -> None:
        """CloudFormation received an answer (a response PUT): move the resource and the stack on."""
        with self.lock:
            request = self.requests.get(str(body.get("RequestId")))
            if request is None:
                return  # an answer to no request CloudFormation sent: it ignores it
            kind, stack_id, logical = request
            stack = self.stacks[stack_id]
            resource = stack.resources[logical]
            ok, physical = body.get("Status") == "SUCCESS", str(body.get("PhysicalResourceId") or "")
            if kind == "Delete" and stack.status in CLEANUP and resource.status.endswith("_COMPLETE"):
                stack.to_clean = [(lid, pid) for lid, pid in stack.to_clean if (lid, pid) != (logical, physical)]
            elif kind == "Delete":
                resource.status = "DELETE_COMPLETE" if ok else "DELETE_FAILED"
            elif ok:
                old = resource.physical_id
                if kind == "Update" and old and physical != old:
                    stack.to_clean = [entry for entry in stack.to_clean if entry != (logical, physical)]
                    stack.to_clean.append((logical, old))
                resource.status, resource.physical_id = f"{kind.upper()}_COMPLETE", physical
            else:
                resource.status, resource.physical_id = f"{kind.upper()}_FAILED", physical or resource.physical_id
                self.fail(stack_id)
                return  # the rollback sends its own requests (a Delete, a rollback Update) next
            self._settle(stack, ok)

    def delete_stack(self, stack_id: str) -> list[tuple[str, str]]:
        """DeleteStack: the (logical id, physical id) of each resource it sends a Delete for
        (none already deleted, e.g. by the rollback of a failed create)."""
        with self.lock:
            stack = self.stacks[stack_id]
            left = [(r.logical_id, r.physical_id) for r in stack.resources.values() if r.status != "DELETE_COMPLETE"]
            stack.status = "DELETE_IN_PROGRESS" if left else "DELETE_COMPLETE"
            return left

    def fail(self, stack_id: str) -> None:
        """A resource of the stack failed: its operation rolls back."""
        with self.lock:
            stack = self.stacks[stack_id]
            if stack.status == "CREATE_IN_PROGRESS":
                stack.status = "ROLLBACK_IN_PROGRESS"
            elif stack.status == "UPDATE_IN_PROGRESS":
                stack.status = "UPDATE_ROLLBACK_IN_PROGRESS"

    def _settle(self, stack: FakeStack, ok: bool) -> None:
        if any(r.status.endswith("_IN_PROGRESS") for r in stack.resources.values()):
            return
        if not ok and stack.status in ("DELETE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"):
            stack.status = stack.status.replace("IN_PROGRESS", "FAILED")
        elif stack.status in ("UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS") and stack.to_clean:
            stack.status = CLEANUP[stack.status == "UPDATE_ROLLBACK_IN_PROGRESS"]
        elif stack.status in FINISHED and not (stack.status in CLEANUP and stack.to_clean):
            stack.status = FINISHED[stack.status]

    # The API ---------------------------------------------------------------------------------

    def next_fault(self, action: str, params: dict[str, str]) -> str | None:
        """Record the call, and take the first fault planned for it (if any)."""
        with self.lock:
            self.calls.append((action, params))
            return take_fault(self.faults, action)

    def call(self, action: str, params: dict[str, str], caller: str | None = None) -> str:
        """Run one API action for `caller` (None: the test itself): throttling, IAM, `authorize`."""
        with self.lock:
            if self._throttled():
                raise ServiceError("Throttling", "Rate exceeded", 400)
            try:
                iam_gate.authorize(caller, "cloudformation:" + action, [params.get("StackName", "*")])
            except iam_gate.AccessDenied as denied:
                raise ServiceError("AccessDenied", denied.message, 403) from denied
            if self.authorize is not None:
                self.authorize(action, params)
            if action == "DescribeStackResource":
                return self._describe_stack_resource(params)
            if action == "DescribeStacks":
                return self._describe_stacks(params)
            raise ServiceError("InvalidAction", f"{action} is not modelled by the stand-in.", 400)

    def _stack(self, name: str) -> FakeStack:
        for stack in self.stacks.values():
            # By id always; by name only while it exists (a deleted stack is found by its id only).
            if name == stack.stack_id or (name == stack.name and stack.status != "DELETE_COMPLETE"):
                return stack
        raise ServiceError("ValidationError", f"Stack '{name}' does not exist", 400)

    def _describe_stack_resource(self, params: dict[str, str]) -> str:
        stack = self._stack(params.get("StackName", ""))
        logical = params.get("LogicalResourceId", "")
        resource = stack.resources.get(logical)
        if resource is None or not resource.status:
            raise ServiceError("ValidationError", f"Resource {logical} does not exist for stack {stack.name}", 400)
        physical = (
            f"<PhysicalResourceId>{escape(resource.physical_id)}</PhysicalResourceId>" if resource.physical_id else ""
        )
        return (
            f"<StackResourceDetail><StackName>{escape(stack.name)}</StackName><StackId>{escape(stack.stack_id)}</StackId>"
            f"<LogicalResourceId>{escape(logical)}</LogicalResourceId>{physical}"
            f"<ResourceType>{escape(resource.resource_type)}</ResourceType>"
            f"<LastUpdatedTimestamp>{_timestamp(resource.changed)}</LastUpdatedTimestamp>"
            f"<ResourceStatus>{resource.status}</ResourceStatus></StackResourceDetail>"
        )

    def _describe_stacks(self, params: dict[str, str]) -> str:
        stack = self._stack(params.get("StackName", ""))
        return (
            f"<Stacks><member><StackName>{escape(stack.name)}</StackName><StackId>{escape(stack.stack_id)}</StackId>"
            f"<CreationTime>{_timestamp(time.time())}</CreationTime><StackStatus>{stack.status}</StackStatus></member></Stacks>"
        )


def _timestamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


def serve_cloudformation(api: FakeCloudFormation) -> AbstractContextManager[str]:
    """Serve the stand-in on 127.0.0.1 for the block; yields AWS_ENDPOINT_URL_CLOUDFORMATION."""
    return serve(api)


def sent(api: FakeCloudFormation, event: object) -> None:
    """CloudFormation is about to invoke the provider with `event`: show its request under way.
    A poll re-invokes a request CloudFormation already shows, and leaves it as it is."""
    if not api.plays_cloudformation or not isinstance(event, dict):
        return
    if "CrHelperPoll" not in event or str(event.get("RequestId")) not in api.requests:
        api.begin(event)


@contextmanager
def playing_cloudformation(api: FakeCloudFormation) -> Iterator[FakeCloudFormation]:
    """For in-process invocations (tests, local/run.py, bench/): every event handed to the
    provider (`UserResource.handle`), or inside a failure record handed to the notifier, is first
    shown under way by `sent`, as CloudFormation does before it invokes."""
    from notifier import app as failure
    from provider.cfn_resource import UserResource

    handle, notify = UserResource.handle, failure.lambda_handler

    def handle_sent(self: UserResource, event: Any, context: Any) -> Any:
        sent(api, event)
        return handle(self, event, context)

    def notify_sent(record: Any, context: Any) -> None:
        payload = record.get("requestPayload") if isinstance(record, dict) else None
        if isinstance(payload, dict) and str(payload.get("RequestId")) not in api.requests:
            sent(api, payload)
        notify(record, context)

    UserResource.handle, failure.lambda_handler = handle_sent, notify_sent  # type: ignore[method-assign]
    try:
        yield api
    finally:
        UserResource.handle, failure.lambda_handler = handle, notify  # type: ignore[method-assign]


@contextmanager
def cloudformation(receiver: Any, api: FakeCloudFormation | None = None) -> Iterator[FakeCloudFormation]:
    """The stand-in served, AWS_ENDPOINT_URL_CLOUDFORMATION pointing at it, told of every answer
    `receiver` (the ResponseURL stand-in) accepts, and playing CloudFormation for in-process
    invocations, for the block."""
    api = api or FakeCloudFormation()
    previous = os.environ.get("AWS_ENDPOINT_URL_CLOUDFORMATION")
    receiver.listeners.append(api.answered)
    with serve_cloudformation(api) as endpoint, playing_cloudformation(api):
        os.environ["AWS_ENDPOINT_URL_CLOUDFORMATION"] = endpoint
        try:
            yield api
        finally:
            receiver.listeners.remove(api.answered)
            if previous is None:
                os.environ.pop("AWS_ENDPOINT_URL_CLOUDFORMATION", None)
            else:
                os.environ["AWS_ENDPOINT_URL_CLOUDFORMATION"] = previous
