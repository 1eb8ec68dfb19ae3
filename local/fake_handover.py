"""A stand-in for the two services a poll hand-over uses, EventBridge (rules and targets) and
Lambda (the function's resource policy), served over HTTP on 127.0.0.1 in the protocols boto3
speaks (JSON 1.1 for EventBridge, REST-JSON for Lambda).

moto accepts what AWS refuses; this refuses it as the API references say:
- rule names 1-64 characters of `[.-_A-Za-z0-9]`, target Input at most 8192 characters
  (ValidationException; EventBridge PutRule / PutTargets references);
- PutTargets, RemoveTargets and ListTargetsByRule on a missing rule: ResourceNotFoundException;
  DeleteRule of a missing rule succeeds ("all calls will succeed"), of a rule that still has
  targets fails ("Before you can delete the rule, you must remove all targets");
- PutTargets and RemoveTargets "can partially fail if too many requests are made at the same
  time": HTTP 200 with FailedEntryCount > 0 (`partial_failures` plans them);
- PutEvents: 1 to 10 entries of at most 256 KB in all (ValidationException); each is kept in
  `events`;
- AddPermission with a statement id the policy has: ResourceConflictException; a resource
  policy past 20 KB: PolicyLengthExceededException; RemovePermission of a missing statement:
  ResourceNotFoundException (Lambda references and quotas page).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from local import iam_gate, iam_requests
from local.http_fake import QuietHandler, ServiceError, serve_on_loopback

ACCOUNT = "arn:aws:{service}:us-east-1:123456789012:"
RULE_NAME = re.compile(r"[.\-_A-Za-z0-9]{1,64}")
INPUT_MAX = 8192
POLICY_MAX = 20480
# PutEvents: at most 10 entries, 256 KB in all (EventBridge PutEvents reference).
PUT_EVENTS_MAX = 10
PUT_EVENTS_BYTES = 262144
POLICY_PATH = re.compile(r"/2015-03-31/functions/([^/]+)/policy(?:/([^/?]+))?")


@dataclass
class Rule:
    name: str
    schedule: str
    state: str
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return ACCOUNT.format(service="events") + "rule/" + self.name


@dataclass
class FakeHandOver:
    """Rules, targets and one function's resource policy; every call is recorded in `calls`."""

    functions: set[str] = field(default_factory=lambda: {iam_gate.FUNCTION_NAMES["provider"]})
    rules: dict[str, Rule] = field(default_factory=dict)
    # function name -> statement id -> statement
    policies: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    # PutEvents entries received (the drift function's events), as sent.
    events: list[dict[str, Any]] = field(default_factory=list)
    # Action -> how many of its next calls fail every entry with HTTP 200 (FailedEntryCount).
    partial_failures: dict[str, int] = field(default_factory=dict)
    # Action -> error code answered to every call (a permanent failure), e.g. "AccessDeniedException".
    broken: dict[str, str] = field(default_factory=dict)
    # Action -> seconds each call takes before it is answered (an API slower than a client's timeout).
    slow: dict[str, float] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def reset(self) -> None:
        with self.lock:
            self.rules.clear()
            self.policies.clear()
            self.calls.clear()
            self.partial_failures.clear()
            self.broken.clear()
            self.slow.clear()
            self.events.clear()

    def count(self, action: str) -> int:
        with self.lock:
            return self.calls.count(action)

    def leftovers(self) -> dict[str, Any]:
        """What a hand-over left behind: rules (with their targets) and permission statements."""
        with self.lock:
            return {
                "rules": {name: sorted(rule.targets) for name, rule in self.rules.items()},
                "statements": sorted(sid for policy in self.policies.values() for sid in policy),
            }

    def call(self, action: str, body: dict[str, Any], caller: str | None = None) -> dict[str, Any]:
        """Run one action for `caller` (a function, judged by its role's policy: local/iam_gate.py;
        None: the test itself)."""
        time.sleep(self.slow.get(action, 0.0))
        with self.lock:
            self.calls.append(action)
            lambda_action = action in ("AddPermission", "RemovePermission")
            checks = iam_requests.function(action, body) if lambda_action else iam_requests.events(action, body)
            try:
                iam_requests.authorize_all(caller, checks)
            except iam_gate.AccessDenied as denied:
                raise ServiceError("AccessDeniedException", denied.message, 403 if lambda_action else 400) from denied
            if action in self.broken:
                raise ServiceError(self.broken[action], f"{action} refused (injected).", 400)
            method = getattr(self, "_" + action, None)
            if method is None:
                raise ServiceError("UnknownOperationException", f"{action} is not modelled.")
            result: dict[str, Any] = method(body)
            return result

    def _partly_failing(self, action: str, ids: list[str]) -> dict[str, Any] | None:
        if self.partial_failures.get(action, 0) <= 0:
            return None
        self.partial_failures[action] -= 1
        failed = [
            {"TargetId": i, "ErrorCode": "ConcurrentModificationException", "ErrorMessage": "Try again."} for i in ids
        ]
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def _rule(self, name: str) -> Rule:
        rule = self.rules.get(name)
        if rule is None:
            raise ServiceError("ResourceNotFoundException", f"Rule {name} does not exist.")
        return rule

    # EventBridge ---------------------------------------------------------------------------

    def _PutRule(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("Name", ""))
        if not RULE_NAME.fullmatch(name):
            raise ServiceError(
                "ValidationException",
                f"1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must "
                "have length less than or equal to 64 and satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+",
            )
        rule = self.rules.get(name)
        if rule is None:
            rule = self.rules[name] = Rule(name, str(body.get("ScheduleExpression", "")), "ENABLED")
        rule.schedule = str(body.get("ScheduleExpression", rule.schedule))
        rule.state = str(body.get("State", "ENABLED"))
        return {"RuleArn": rule.arn}

    def _PutTargets(self, body: dict[str, Any]) -> dict[str, Any]:
        rule = self._rule(str(body.get("Rule", "")))
        targets = list(body.get("Targets", []))
        for index, target in enumerate(targets, 1):
            if len(str(target.get("Input", ""))) > INPUT_MAX:
                raise ServiceError(
                    "ValidationException",
                    f"1 validation error detected: Value at 'targets.{index}.member.input' failed to satisfy "
                    f"constraint: Member must have length less than or equal to {INPUT_MAX}",
                )
        failed = self._partly_failing("PutTargets", [str(t["Id"]) for t in targets])
        if failed:
            return failed
        for target in targets:
            rule.targets[str(target["Id"])] = dict(target)
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def _RemoveTargets(self, body: dict[str, Any]) -> dict[str, Any]:
        rule = self._rule(str(body.get("Rule", "")))
        ids = [str(i) for i in body.get("Ids", [])]
        failed = self._partly_failing("RemoveTargets", ids)
        if failed:
            return failed
        for target_id in ids:
            rule.targets.pop(target_id, None)
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def _DeleteRule(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("Name", ""))
        rule = self.rules.get(name)
        if rule is not None and rule.targets:
            raise ServiceError("ValidationException", "Rule can't be deleted since it has targets.")
        self.rules.pop(name, None)
        return {}

    def _ListRules(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "Rules": [
                {"Name": r.name, "Arn": r.arn, "State": r.state, "ScheduleExpression": r.schedule}
                for r in self.rules.values()
            ]
        }

    def _ListTargetsByRule(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"Targets": list(self._rule(str(body.get("Rule", ""))).targets.values())}

    def _PutEvents(self, body: dict[str, Any]) -> dict[str, Any]:
        entries = list(body.get("Entries", []))
        if not 1 <= len(entries) <= PUT_EVENTS_MAX:
            raise ServiceError(
                "ValidationException", f"Entries: member must have length between 1 and {PUT_EVENTS_MAX}"
            )
        size = sum(len(str(e.get(k, "")).encode()) for e in entries for k in ("Source", "DetailType", "Detail"))
        if size > PUT_EVENTS_BYTES:
            raise ServiceError(
                "ValidationException", f"Total size of the entries in the request is over the limit ({size})."
            )
        self.events.extend(entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in entries]}

    # Lambda --------------------------------------------------------------------------------

    def _policy(self, function: str) -> dict[str, dict[str, Any]]:
        if function.split(":")[-1] not in self.functions:
            raise ServiceError("ResourceNotFoundException", f"Function not found: {function}", 404)
        return self.policies.setdefault(function.split(":")[-1], {})

    def _AddPermission(self, body: dict[str, Any]) -> dict[str, Any]:
        policy = self._policy(str(body["FunctionName"]))
        sid = str(body.get("StatementId", ""))
        if sid in policy:
            raise ServiceError("ResourceConflictException", f"The statement id ({sid}) provided already exists.", 409)
        statement = {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": body.get("Principal")},
            "Action": body.get("Action"),
            "Resource": ACCOUNT.format(service="lambda") + "function:" + str(body["FunctionName"]),
            "Condition": {"ArnLike": {"AWS:SourceArn": body.get("SourceArn")}},
        }
        if len(json.dumps({"Statement": [*policy.values(), statement]})) > POLICY_MAX:
            raise ServiceError("PolicyLengthExceededException", "The final policy size is bigger than the limit.", 400)
        policy[sid] = statement
        return {"Statement": json.dumps(statement)}

    def _RemovePermission(self, body: dict[str, Any]) -> dict[str, Any]:
        policy = self._policy(str(body["FunctionName"]))
        sid = str(body.get("StatementId", ""))
        if sid not in policy:
            raise ServiceError("ResourceNotFoundException", f"Statement {sid} is not found in resource policy.", 404)
        del policy[sid]
        return {}


def _handler_for(api: FakeHandOver) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length) if length else b""
            value = json.loads(raw) if raw else {}
            return value if isinstance(value, dict) else {}

        def _lambda(self, method: str) -> None:
            match = POLICY_PATH.fullmatch(self.path.split("?")[0])
            if match is None:
                self._answer(ServiceError("UnknownOperationException", self.path, 404), rest=True)
                return
            body = {**self._body(), "FunctionName": unquote(match.group(1))}
            if match.group(2):
                body["StatementId"] = unquote(match.group(2))
            action = {"POST": "AddPermission", "DELETE": "RemovePermission"}[method]
            try:
                result = api.call(action, body, iam_gate.caller(self.headers))
            except ServiceError as error:
                self._answer(error, rest=True)
                return
            self._reply(201 if method == "POST" else 204, result if method == "POST" else None)

        def do_POST(self) -> None:
            target = self.headers.get("X-Amz-Target", "")
            if not target:
                self._lambda("POST")
                return
            try:
                result = api.call(target.split(".")[-1], self._body(), iam_gate.caller(self.headers))
            except ServiceError as error:
                self._answer(error, rest=False)
                return
            self._reply(200, result)

        def do_DELETE(self) -> None:
            self._lambda("DELETE")

        def _answer(self, error: ServiceError, *, rest: bool) -> None:
            if rest:
                self._reply(error.status, {"Type": "User", "message": error.message}, error.code)
            else:
                self._reply(400, error.json_body())

        def _reply(self, status: int, body: dict[str, Any] | None, error_type: str = "") -> None:
            headers = {"x-amzn-RequestId": str(uuid.uuid4())} | ({"x-amzn-ErrorType": error_type} if error_type else {})
            data = json.dumps(body).encode() if body is not None else b""
            self.reply(status, data, "application/x-amz-json-1.1", headers)

    return Handler


def serve_hand_over(api: FakeHandOver) -> AbstractContextManager[str]:
    """Serve `api` on 127.0.0.1 for the block; yields its endpoint URL."""
    return serve_on_loopback(_handler_for(api))
