"""An authorizing proxy in front of moto server: the services moto still serves in tests (SSM
for PasswordParameterName, Secrets Manager for PasswordSecretId when no stand-in is asked for,
EventBridge and Lambda, and ElastiCache in the test that runs against moto) are judged by the
calling function's role policy as the stand-ins are (local/iam_gate.py), then forwarded.

moto evaluates no IAM policy unless asked to, and then skips Condition blocks, so the proxy
judges and moto only serves. It reads what it needs of the request as AWS would: the service
from the SigV4 credential scope, the action from `X-Amz-Target` (JSON protocols), the `Action`
form field (query protocol) or the REST path (Lambda); a resource's tags (ElastiCache's
aws:ResourceTag/*) are asked of moto itself. A refusal is answered in the service's protocol.
"""

from __future__ import annotations

import functools
import http.client
import json
import re
import uuid
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local import iam_gate, iam_requests
from local.fake_wire import error_xml
from local.http_fake import QuietHandler, ServiceError, serve_on_loopback

SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")
LAMBDA_PATH = re.compile(r"/2015-03-31/functions/([^/]+)/(policy(?:/([^/?]+))?|invocations)")
HOP_BY_HOP = {"connection", "transfer-encoding", "keep-alive", "content-length", "server", "date"}


def _lambda_request(method: str, path: str) -> tuple[str, dict[str, Any]]:
    match = LAMBDA_PATH.fullmatch(path.split("?")[0])
    if match is None:
        return f"{method}:{path}", {}
    action = "InvokeFunction" if match.group(2) == "invocations" else {"POST": "AddPermission"}.get(method, "")
    return action or ("RemovePermission" if method == "DELETE" else "GetPolicy"), {"FunctionName": unquote(match[1])}


def checks_for(service: str, target: str, method: str, path: str, body: bytes, moto: str) -> list[iam_requests.Check]:
    """The authorization a request to moto needs (see local/iam_requests.py); `target` is its
    X-Amz-Target header ('' outside the JSON protocols)."""
    if target:
        action, payload = target.split(".")[-1], json.loads(body or b"{}")
    elif service == "lambda":
        action, payload = _lambda_request(method, path)
        payload = {**(json.loads(body) if body else {}), **payload}
    else:
        payload = dict(parse_qsl(body.decode(), keep_blank_values=True))
        action = payload.get("Action", "")
    if service == "elasticache":
        return iam_requests.elasticache(action, payload, functools.partial(_moto_tags, moto))
    by_service = {
        "events": iam_requests.events,
        "lambda": iam_requests.function,
        "secretsmanager": iam_requests.secrets,
        "ssm": iam_requests.ssm,
    }
    if service in by_service:
        return by_service[service](action, payload)
    return [iam_requests.Check(f"{service}:{action}", "*")]


def _moto_tags(moto: str, arn: str) -> dict[str, str] | None:
    try:
        listed = _moto_client(moto).list_tags_for_resource(ResourceName=arn)["TagList"]
    except Exception:  # noqa: BLE001 - a resource moto does not know has no tags to judge by
        return None
    return {t["Key"]: t["Value"] for t in listed}


@functools.lru_cache(maxsize=4)
def _moto_client(moto: str) -> Any:
    return iam_gate.operator_client("elasticache", endpoint_url=moto, region_name=iam_gate.REGION)


def _handler_for(moto: str) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(moto)

    class Handler(QuietHandler):
        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            scope = SCOPE.search(self.headers.get("Authorization", ""))
            caller = iam_gate.caller(self.headers)
            if scope and caller is not None:
                service = scope.group(1)
                try:
                    target_header = self.headers.get("X-Amz-Target", "")
                    checks = checks_for(service, target_header, self.command, self.path, body, moto)
                    iam_requests.authorize_all(caller, checks)
                except iam_gate.AccessDenied as denied:
                    self._refuse(service, denied.message)
                    return
            connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "host")}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | {"content-type"}}
                self.reply(response.status, data, response.getheader("Content-Type", "text/plain"), kept)
            finally:
                connection.close()

        def _refuse(self, service: str, message: str) -> None:
            request_id = {"x-amzn-RequestId": str(uuid.uuid4())}
            if self.headers.get("X-Amz-Target"):
                data = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
                self.reply(400, data, "application/x-amz-json-1.1", request_id)
            elif service == "lambda":
                data = json.dumps({"Type": "User", "message": message}).encode()
                self.reply(403, data, "application/json", {**request_id, "x-amzn-ErrorType": "AccessDeniedException"})
            else:
                self.reply(403, error_xml(ServiceError("AccessDenied", message, 403)).encode(), "text/xml", request_id)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward  # noqa: N815 - http.server names them

    return Handler


def authorizing_proxy(moto: str) -> AbstractContextManager[str]:
    """Serve the proxy in front of the moto server at `moto` for the block; yields its endpoint."""
    return serve_on_loopback(_handler_for(moto), backlog=64)
