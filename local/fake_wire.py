"""The wire side of the stateful fake: the query protocol boto3 speaks (form parameters in,
XML out), errors as ElastiCache renders them, and an HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import struct
import time
import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler
from typing import Protocol, TypeVar
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from local import iam_gate
from local.fake_state import FakeGroup, FakeUser
from local.http_fake import QuietHandler, ServiceError, serve_on_loopback


class WireApi(Protocol):
    """What the HTTP front needs of the fake behind it."""

    slow_seconds: float

    def next_fault(self, action: str, params: dict[str, str]) -> str | None: ...

    def call(self, action: str, params: dict[str, str], caller: str | None = None) -> str: ...


NAMESPACE = "http://elasticache.amazonaws.com/doc/2015-02-02/"


def take_fault(faults: list[tuple[str, str]], action: str) -> str | None:
    """Take the first fault planned for `action` (target "*": any action) out of `faults`."""
    for index, (target, kind) in enumerate(faults):
        if target in ("*", action):
            del faults[index]
            return kind
    return None


def members(params: Mapping[str, str], prefix: str) -> list[str]:
    numbered = sorted(
        (int(key[len(prefix) + 8 :]), value) for key, value in params.items() if key.startswith(prefix + ".member.")
    )
    return [value for _, value in numbered]


def request_tags(params: Mapping[str, str]) -> dict[str, str]:
    tags = {}
    index = 1
    while f"Tags.Tag.{index}.Key" in params:
        tags[params[f"Tags.Tag.{index}.Key"]] = params.get(f"Tags.Tag.{index}.Value", "")
        index += 1
    return tags


# DescribeUsers / DescribeUserGroups without an id page their answer: MaxRecords (default 100)
# a page, and a Marker while more remain (API reference: "a marker is included in the response").
PAGE_DEFAULT = 100
Item = TypeVar("Item")


def paged(items: list[Item], params: dict[str, str]) -> tuple[list[Item], str]:
    """One page of `items` (in a stable order) and the Marker element after it ('' at the end)."""
    size = min(PAGE_DEFAULT, max(1, int(params.get("MaxRecords") or PAGE_DEFAULT)))
    start = int(params.get("Marker") or 0)
    marker = f"<Marker>{start + size}</Marker>" if start + size < len(items) else ""
    return items[start : start + size], marker


def tags_xml(tags: dict[str, str]) -> str:
    inner = "".join(f"<Tag><Key>{escape(k)}</Key><Value>{escape(v)}</Value></Tag>" for k, v in tags.items())
    return f"<TagList>{inner}</TagList>"


def ids_xml(name: str, ids: list[str]) -> str:
    return f"<{name}>" + "".join(f"<member>{escape(i)}</member>" for i in ids) + f"</{name}>"


def group_xml(group: FakeGroup) -> str:
    pending = ""
    if group.adding or group.removing:
        pending = (
            "<PendingChanges>"
            + ids_xml("UserIdsToRemove", group.removing)
            + ids_xml("UserIdsToAdd", group.adding)
            + "</PendingChanges>"
        )
    return (
        f"<UserGroupId>{escape(group.group_id)}</UserGroupId><Status>{group.status}</Status>"
        f"<Engine>{group.engine}</Engine>{ids_xml('UserIds', group.user_ids)}"
        f"<MinimumEngineVersion>6.0</MinimumEngineVersion>{pending}"
        f"<ARN>{group.arn}</ARN>"
    )


def user_xml(user: FakeUser) -> str:
    groups = "".join(f"<member>{escape(g)}</member>" for g in user.user_group_ids)
    return (
        f"<UserId>{escape(user.user_id)}</UserId><UserName>{escape(user.user_name)}</UserName>"
        f"<Status>{user.status}</Status><Engine>{user.engine}</Engine>"
        "<MinimumEngineVersion>6.0</MinimumEngineVersion>"
        f"<AccessString>{escape(user.reported_access_string or user.access_string)}</AccessString>"
        f"<UserGroupIds>{groups}</UserGroupIds>"
        f"<Authentication><Type>{user.authentication_type}</Type>"
        f"<PasswordCount>{user.password_count}</PasswordCount></Authentication><ARN>{user.arn}</ARN>"
    )


def handler_for(api: WireApi) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            params = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
            action = params.pop("Action", "")
            params.pop("Version", None)
            fault = api.next_fault(action, params)
            if fault == "reset":
                # SO_LINGER 0: close() sends a TCP reset, as a dropped connection would.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                return
            if fault == "slow":
                time.sleep(api.slow_seconds)
            # "pass": the planned call goes through (so that a later fault meets a later call).
            try:
                if fault == "throttle":
                    raise ServiceError("Throttling", "Rate exceeded", 400)
                if fault == "500":
                    raise ServiceError("InternalFailure", "Internal failure", 500)
                if fault and fault.endswith("+echo"):
                    # An error message that quotes the request, passwords included.
                    raise ServiceError(fault.removesuffix("+echo"), "Refused: " + ", ".join(params.values()), 400)
                if fault and fault != "pass" and fault[0].isupper():
                    raise ServiceError(fault, f"Injected {fault}.", 400)
                inner = api.call(action, params, iam_gate.caller(self.headers))
            except ServiceError as error:
                self._reply(error.status, error_xml(error))
                return
            body = (
                f'<{action}Response xmlns="{NAMESPACE}"><{action}Result>{inner}</{action}Result>'
                f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
            )
            self._reply(200, body)

        def _reply(self, status: int, body: str) -> None:
            self.reply(status, body.encode(), "text/xml")

    return Handler


def error_xml(error: ServiceError) -> str:
    return (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type><Code>{error.code}</Code>'
        f"<Message>{escape(error.message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )


def serve(api: WireApi) -> AbstractContextManager[str]:
    """Serve `api` on 127.0.0.1 for the block; yields its endpoint URL."""
    return serve_on_loopback(handler_for(api), backlog=256)
