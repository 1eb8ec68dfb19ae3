"""An HTTPS server on 127.0.0.1 that stands in for CloudFormation's ResponseURL (an S3
presigned URL): it records every PUT body, and can be told to fail the next ones."""

from __future__ import annotations

import functools
import json
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trustme


@dataclass
class Delivery:
    """One PUT the receiver accepted."""

    path: str
    body: dict[str, Any]
    at: float  # time.monotonic() when it arrived


@dataclass
class Receiver:
    """State shared with the request handler threads."""

    host: str
    port: int
    deliveries: list[Delivery] = field(default_factory=list)
    attempts: int = 0
    # Consumed one per PUT: an HTTP status to answer, "reset" to drop the connection, or
    # "hang" to answer only after `hang_seconds`. Empty: 200.
    plan: list[int | str] = field(default_factory=list)
    hang_seconds: float = 10.0
    arrived: threading.Condition = field(default_factory=threading.Condition)
    # Told of every answer accepted, as CloudFormation is (the CloudFormation stand-in moves on).
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)

    def url(self, key: str = "response") -> str:
        """A presigned-looking URL on this receiver (the query string is the secret part)."""
        return (
            f"https://{self.host}:{self.port}/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAEXAMPLE%2F20261125%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Signature=5ec7e75ec7e75ec7e75ec7e75ec7e7"
        )

    def wait_for(self, count: int = 1, timeout: float = 30.0) -> list[Delivery]:
        """Block until `count` deliveries arrived (or the timeout passed); return them all."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.deliveries) >= count, timeout)
            return list(self.deliveries)

    def reset(self) -> None:
        with self.arrived:
            self.deliveries.clear()
            self.plan.clear()
            self.attempts = 0


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            with receiver.arrived:
                receiver.attempts += 1
                step = receiver.plan.pop(0) if receiver.plan else 200
            if step == "reset":
                self.close_connection = True
                self.connection.close()
                return
            if step == "hang":
                time.sleep(receiver.hang_seconds)
                step = 200
            if step == 200:
                body = json.loads(raw)
                for listener in list(receiver.listeners):
                    listener(body)
                with receiver.arrived:
                    receiver.deliveries.append(Delivery(self.path, body, time.monotonic()))
                    receiver.arrived.notify_all()
            self.send_response(int(step))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


@functools.cache
def _authority() -> tuple[trustme.CA, trustme.LeafCert]:
    """One throw-away CA (and certificate for 127.0.0.1) per process, shared by all receivers."""
    authority = trustme.CA()
    return authority, authority.issue_cert("127.0.0.1", "localhost")


@contextmanager
def https_receiver(port: int = 0) -> Iterator[Receiver]:
    """Run a receiver with a certificate from a throw-away CA, trusted through SSL_CERT_FILE
    (which Python's default TLS context reads), for as long as the block lasts."""
    authority, certificate = _authority()
    with tempfile.TemporaryDirectory() as folder:
        ca_file = os.path.join(folder, "ca.pem")
        authority.cert_pem.write_to_path(ca_file)
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(server_context)
        server = ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler)
        receiver = Receiver("127.0.0.1", server.server_address[1])
        server.RequestHandlerClass = _handler_for(receiver)
        server.daemon_threads = True
        server.socket = server_context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        previous = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = ca_file
        try:
            yield receiver
        finally:
            if previous is None:
                os.environ.pop("SSL_CERT_FILE", None)
            else:
                os.environ["SSL_CERT_FILE"] = previous
            server.shutdown()
            server.server_close()
