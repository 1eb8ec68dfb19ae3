"""Delivering the answer to CloudFormation's ResponseURL: allowed hosts only, bounded retries.

crhelper's own sender retries forever, has no socket timeout and counts any HTTP status as
delivered; this one is plugged into crhelper in its place.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import re
import ssl
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from runtime.log import logger


@functools.cache
def _partitions() -> tuple[tuple[str, re.Pattern[str], frozenset[str]], ...]:
    from botocore.loaders import create_loader

    return tuple(
        ("." + p["outputs"]["dnsSuffix"].lower(), re.compile(p["regionRegex"]), frozenset(p["regions"]))
        for p in create_loader().load_data("partitions")["partitions"]
    )


def partition_suffixes() -> tuple[str, ...]:
    """The DNS suffix of every AWS partition (amazonaws.com, amazonaws.com.cn, amazonaws.eu,
    the ISO ones), from botocore's own partitions.json."""
    return tuple(sorted({suffix for suffix, _, _ in _partitions()}))


def partition_suffix(region: str) -> str | None:
    """The DNS suffix of the partition `region` is in (botocore's partitions.json)."""
    listed = [suffix for suffix, _, regions in _partitions() if region in regions]
    matched = [suffix for suffix, pattern, _ in _partitions() if pattern.match(region)]
    found = listed or matched
    return found[0] if found else None


# CloudFormation answers go to its own bucket in the stack's region, the region without dashes
# (Lambda guide, "Using AWS Lambda with AWS CloudFormation": `cloudformation-custom-resource-
# response-useast2.s3-us-east-2.amazonaws.com`; CloudFormation User Guide: ResponseURL
# `cloudformation-custom-resource-response-useast1.s3.amazonaws.com`).
RESPONSE_BUCKET_PREFIX = "cloudformation-custom-resource-response-"


def response_bucket(region: str) -> str:
    return RESPONSE_BUCKET_PREFIX + region.replace("-", "")


def is_cloudformation_url(url: str, region: str) -> bool:
    """True for a URL on CloudFormation's response bucket of `region`, on an S3 host of the
    region's partition: virtual-hosted (`<bucket>.s3.amazonaws.com`, `<bucket>.s3.<region>.<suffix>`,
    `<bucket>.s3-<region>.<suffix>`) or path style (`s3.<region>.<suffix>/<bucket>/...`). Any
    other bucket could be anyone's: an answer carries the user's attributes."""
    suffix, host = partition_suffix(region), response_host(url)
    if suffix is None or not host.endswith(suffix):
        return False
    labels = host[: -len(suffix)].split(".")
    endpoints = (["s3"], ["s3", region], [f"s3-{region}"], ["s3", "dualstack", region])
    for endpoint in endpoints:
        if labels[-len(endpoint) :] == endpoint:
            bucket = ".".join(labels[: -len(endpoint)])
            break
    else:
        return False
    path = urlsplit(url).path
    if "/.." in path or "%2e" in path.lower():  # a dot segment could step out of the bucket
        return False
    if not bucket:  # path style: the bucket is the first segment of the path
        bucket = path.lstrip("/").split("/", 1)[0]
    return bucket == response_bucket(region)


MAX_BODY_BYTES = 4096
MAX_REASON_CHARS = 256
# A field echoed from the request is clipped so that a hostile request cannot push the body
# past the limit; a real StackId, RequestId or LogicalResourceId is far shorter. Counted in
# bytes of JSON: an escaped character (a quote, a backslash, any non-ASCII one) takes 2 to 6.
MAX_ECHO_BYTES = 600


def response_host(url: object) -> str:
    """The lower-case host name of a URL ('' if there is none)."""
    if not isinstance(url, str):
        return ""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def is_allowed_response_url(url: object, extra_hosts: Collection[str], region: str | None = None) -> bool:
    """True for an https URL on CloudFormation's response bucket of `region` (by default the
    function's own, AWS_REGION: the provider serves the stacks of its region), or on one of
    `extra_hosts` (RESPONSE_URL_ALLOWED_HOSTS: local runs and tests)."""
    if not isinstance(url, str) or not url.lower().startswith("https://"):
        return False
    host = response_host(url)
    if not host:
        return False
    if host in extra_hosts:
        return True
    region = region or os.environ.get("AWS_REGION", "")
    return bool(region) and is_cloudformation_url(url, region.lower())


def shorten_reason(reason: str) -> str:
    """Keep a reason within CloudFormation's display limit, keeping its beginning (crhelper keeps the end)."""
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 3] + "..."


TRIMMED = "..."


def _trim_data(data: Mapping[str, Any], excess: int) -> dict[str, str]:
    """`data` shortened by at least `excess` bytes of JSON: the longest attribute first, cut and
    ended with '...' (a list such as UserGroupIds at a comma, so every id left is whole)."""
    trimmed = {str(k): str(v) for k, v in data.items()}
    while excess > 0 and trimmed:
        key = max(trimmed, key=lambda k: len(json.dumps(trimmed[k])))
        value = trimmed[key]
        size = len(json.dumps(value))
        if size <= len(json.dumps(TRIMMED)):
            break
        # The longest prefix that fits (JSON escapes make some characters cost more than one byte).
        low, high = 0, len(value)
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (
                (middle, high) if len(json.dumps(value[:middle] + TRIMMED)) <= size - excess else (low, middle - 1)
            )
        keep = value[:low]
        if "," in value and "," in keep:
            keep = keep[: keep.rindex(",") + 1]
        trimmed[key] = keep + TRIMMED
        excess -= size - len(json.dumps(trimmed[key]))
    return trimmed


def encode_body(body: Mapping[str, Any]) -> bytes:
    """JSON-encode a response body so that it fits CloudFormation's 4096-byte limit.

    Oversized Data is trimmed, never the status: the longest attributes are shortened and end
    in '...' (docs/template-authors.md: Return values). Oversized echoed fields are clipped.
    """
    fitted = dict(body)
    encoded = json.dumps(fitted, default=str).encode()
    if len(encoded) > MAX_BODY_BYTES and fitted.get("Data"):
        fitted["Data"] = _trim_data(fitted["Data"], len(encoded) - MAX_BODY_BYTES)
        encoded = json.dumps(fitted, default=str).encode()
    if len(encoded) > MAX_BODY_BYTES:
        for key in ("Reason", "PhysicalResourceId", "StackId", "RequestId", "LogicalResourceId"):
            fitted[key] = _clipped(str(fitted.get(key, "")))
        encoded = json.dumps(fitted, default=str).encode()
    return encoded


def _clipped(value: str) -> str:
    """The longest beginning of `value` whose JSON form takes at most MAX_ECHO_BYTES."""
    low, high = 0, len(value)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if len(json.dumps(value[:middle])) <= MAX_ECHO_BYTES else (low, middle - 1)
    return value[:low]


def put_response(
    url: str,
    body: Mapping[str, Any],
    *,
    allowed_hosts: Collection[str],
    attempts: int,
    timeout: float,
    time_left: Callable[[], float],
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """PUT the answer to the ResponseURL; True once CloudFormation's store accepted it.

    Connection failures and 5xx are retried with growing pauses, at most `attempts` times and
    never past `time_left()`; a 4xx (expired or foreign URL) is not retried. The URL is never
    logged: its query string is a credential.
    """
    host = response_host(url)
    if not is_allowed_response_url(url, allowed_hosts):
        logger.error("response not sent: ResponseURL is not https on an allowed host", extra={"host": host})
        return False
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    data = encode_body(body)
    headers = {"Content-Type": "", "Content-Length": str(len(data))}
    context = ssl.create_default_context()
    pause = 0.5
    for attempt in range(1, attempts + 1):
        budget = min(timeout, time_left())
        if budget <= 0.1:
            break
        connection = http.client.HTTPSConnection(host, parts.port, timeout=budget, context=context)
        try:
            connection.request("PUT", target, body=data, headers=headers)
            status = connection.getresponse().status
        except (OSError, http.client.HTTPException) as error:
            logger.warning(
                "response PUT failed",
                extra={"host": host, "attempt": attempt, "error": f"{type(error).__name__}: {error}"},
            )
        else:
            if 200 <= status < 300:
                logger.info(
                    "response delivered",
                    extra={"host": host, "attempt": attempt, "status": body.get("Status"), "http_status": status},
                )
                return True
            if 400 <= status < 500:
                logger.error(
                    "response could not be delivered: the ResponseURL was refused (expired or invalid)",
                    extra={"host": host, "http_status": status},
                )
                return False
            logger.warning("response PUT failed", extra={"host": host, "attempt": attempt, "http_status": status})
        finally:
            connection.close()
        if attempt < attempts:
            sleep(max(0.0, min(pause, time_left() - 0.1)))
            pause = min(2.0, pause * 2)
    logger.error("response could not be delivered to CloudFormation", extra={"host": host, "attempts": attempts})
    return False


def answer_failed(event: Mapping[str, Any], reason: str, physical_id: str, *, allowed_hosts: Collection[str]) -> bool:
    """Answer FAILED to a request without crhelper: when the provider could not start, or
    its invocation failed without answering. Requests on a foreign ResponseURL get nothing."""
    body = {
        "Status": "FAILED",
        "Reason": shorten_reason(reason),
        "PhysicalResourceId": physical_id,
        "StackId": str(event.get("StackId", "")),
        "RequestId": str(event.get("RequestId", "")),
        "LogicalResourceId": str(event.get("LogicalResourceId", "")),
        "Data": {},
        "NoEcho": False,
    }
    deadline = time.monotonic() + 20
    return put_response(
        str(event.get("ResponseURL", "")),
        body,
        allowed_hosts=allowed_hosts,
        attempts=3,
        timeout=5,
        time_left=lambda: deadline - time.monotonic(),
    )
