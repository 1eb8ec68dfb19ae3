"""A stand-in for SSM Parameter Store, served over HTTP on 127.0.0.1 in the JSON 1.1 protocol
boto3 speaks (`X-Amz-Target: AmazonSSM.<Action>`): what the applied-state records
(src/handler/cloudformation/records.py) and the PasswordParameterName property use.

It refuses what Parameter Store refuses (sources: docs/aws-behaviour.md, Parameter Store):
- a standard-tier value over 4096 characters: ValidationException "Standard tier parameters
  support a maximum parameter value of 4096 characters…";
- PutParameter of an existing name without Overwrite: ParameterAlreadyExists;
- names outside `a-zA-Z0-9_.-/`, or starting with `aws`/`ssm`: ValidationException;
- GetParametersByPath with MaxResults over 10: ValidationException; it pages with NextToken,
  10 at most per page, and without Recursive returns only the path's direct children;
- GetParameter, DeleteParameter of a missing name: ParameterNotFound;
- more requests per second than `rate_limit`: ThrottlingException "Rate exceeded" (the
  account's Parameter Store throughput quota).
SecureString values come back as stored only WithDecryption (otherwise an opaque stand-in).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from local import iam_gate, iam_requests
from local.http_fake import QuietHandler, ServiceError, TokenBucket, serve_on_loopback

VALUE_MAX = 4096
PAGE_MAX = 10
NAME = re.compile(r"[a-zA-Z0-9_.\-/]{1,1011}")
ARN = "arn:aws:ssm:us-east-1:123456789012:parameter"


@dataclass
class Parameter:
    name: str
    value: str
    kind: str
    version: int = 1


@dataclass
class FakeSsm(TokenBucket):
    """Parameters by name; every call is recorded in `calls` (action, name or path)."""

    parameters: dict[str, Parameter] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    # Requests per second above which calls answer ThrottlingException (None: no limit).
    rate_limit: float | None = None
    # Action -> error code it answers every time (a permanent failure, e.g. AccessDeniedException).
    broken: dict[str, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    lock: threading.RLock = field(default_factory=threading.RLock)
    throttled: int = 0

    def reset(self) -> None:
        with self.lock:
            self.parameters.clear()
            self.calls.clear()
            self.broken.clear()
            self.rate_limit, self.throttled = None, 0

    def values(self, path: str = "/") -> dict[str, Any]:
        """The String values under `path`, read as JSON (what a test inspects)."""
        with self.lock:
            return {n: json.loads(p.value) for n, p in self.parameters.items() if n.startswith(path)}

    def count(self, action: str) -> int:
        with self.lock:
            return sum(1 for called, _ in self.calls if called == action)

    def call(self, action: str, body: dict[str, Any], caller: str | None = None) -> dict[str, Any]:
        """Run one action for `caller` (a function, judged by its role's policy: local/iam_gate.py;
        None: the test itself)."""
        with self.lock:
            self.calls.append((action, str(body.get("Name") or body.get("Path") or "")))
            try:
                iam_requests.authorize_all(caller, iam_requests.ssm(action, body))
            except iam_gate.AccessDenied as denied:
                raise ServiceError("AccessDeniedException", denied.message) from denied
            if self._throttled():
                raise ServiceError("ThrottlingException", "Rate exceeded")
            if action in self.broken:
                raise ServiceError(self.broken[action], f"{action} refused (injected).")
            method = getattr(self, "_" + action, None)
            if method is None:
                raise ServiceError("UnknownOperationException", f"{action} is not modelled.")
            result: dict[str, Any] = method(body)
            return result

    @staticmethod
    def _name(body: dict[str, Any]) -> str:
        name = str(body.get("Name", ""))
        if not NAME.fullmatch(name) or name.lstrip("/").lower().startswith(("aws", "ssm")):
            raise ServiceError(
                "ValidationException",
                f'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive), and may contain '
                f"only a-zA-Z0-9_.-/: {name[:100]}",
            )
        return name

    def _found(self, name: str) -> Parameter:
        parameter = self.parameters.get(name)
        if parameter is None:
            raise ServiceError("ParameterNotFound", "")
        return parameter

    def _shown(self, parameter: Parameter, decrypt: bool) -> dict[str, Any]:
        value = parameter.value
        if parameter.kind == "SecureString" and not decrypt:
            value = "AQICAH" + uuid.uuid5(uuid.NAMESPACE_URL, value).hex  # ciphertext, opaque
        return {
            "Name": parameter.name,
            "Type": parameter.kind,
            "Value": value,
            "Version": parameter.version,
            "ARN": ARN + (parameter.name if parameter.name.startswith("/") else "/" + parameter.name),
            "DataType": "text",
        }

    def _PutParameter(self, body: dict[str, Any]) -> dict[str, Any]:
        name, value = self._name(body), str(body.get("Value", ""))
        if len(value) > VALUE_MAX and body.get("Tier", "Standard") == "Standard":
            raise ServiceError(
                "ValidationException",
                f"Standard tier parameters support a maximum parameter value of {VALUE_MAX} characters. To create a "
                "larger parameter value, upgrade the parameter to use the advanced-parameter tier.",
            )
        existing = self.parameters.get(name)
        if existing is not None and not body.get("Overwrite"):
            raise ServiceError(
                "ParameterAlreadyExists",
                "The parameter already exists. To overwrite this value, set the overwrite option in the request "
                "to true.",
            )
        version = existing.version + 1 if existing else 1
        self.parameters[name] = Parameter(
            name, value, str(body.get("Type") or (existing.kind if existing else "String")), version
        )
        return {"Version": version, "Tier": "Standard"}

    def _GetParameter(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"Parameter": self._shown(self._found(self._name(body)), bool(body.get("WithDecryption")))}

    def _GetParameters(self, body: dict[str, Any]) -> dict[str, Any]:
        names = [str(n) for n in body.get("Names", [])]
        if not 1 <= len(names) <= PAGE_MAX:
            raise ServiceError("ValidationException", f"Names: member must have length between 1 and {PAGE_MAX}")
        decrypt = bool(body.get("WithDecryption"))
        found = [self._shown(self.parameters[n], decrypt) for n in names if n in self.parameters]
        return {"Parameters": found, "InvalidParameters": [n for n in names if n not in self.parameters]}

    def _GetParametersByPath(self, body: dict[str, Any]) -> dict[str, Any]:
        path = str(body.get("Path", "")).rstrip("/") + "/"
        size = int(body.get("MaxResults", PAGE_MAX))
        if not 1 <= size <= PAGE_MAX:
            raise ServiceError(
                "ValidationException",
                f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy constraint: Member "
                f"must have value less than or equal to {PAGE_MAX}",
            )
        recursive = bool(body.get("Recursive"))
        names = sorted(n for n in self.parameters if n.startswith(path) and (recursive or "/" not in n[len(path) :]))
        start = int(body.get("NextToken") or 0)
        page = names[start : start + size]
        result: dict[str, Any] = {
            "Parameters": [self._shown(self.parameters[n], bool(body.get("WithDecryption"))) for n in page]
        }
        if start + size < len(names):
            result["NextToken"] = str(start + size)
        return result

    def _DeleteParameter(self, body: dict[str, Any]) -> dict[str, Any]:
        name = self._name(body)
        self._found(name)
        del self.parameters[name]
        return {}


def _handler_for(api: FakeSsm) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else {}
            action = self.headers.get("X-Amz-Target", "").split(".")[-1]
            try:
                caller = iam_gate.caller(self.headers)
                status, result = 200, api.call(action, body if isinstance(body, dict) else {}, caller)
            except ServiceError as error:
                status, result = error.status, error.json_body()
            headers = {"x-amzn-RequestId": str(uuid.uuid4())}
            self.reply(status, json.dumps(result).encode(), "application/x-amz-json-1.1", headers)

    return Handler


def serve_ssm(api: FakeSsm) -> AbstractContextManager[str]:
    """Serve `api` on 127.0.0.1 for the block; yields its endpoint URL."""
    return serve_on_loopback(_handler_for(api), backlog=64)
