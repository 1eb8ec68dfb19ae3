"""Custom::ElastiCacheUser: the CloudFormation side of the user lifecycle, on top of crhelper.

crhelper speaks the protocol (answer body, physical id echo, poll hand-over through an
EventBridge rule). This class fixes its traps: no 120 s sleep on Delete, no event at DEBUG,
clients for the hand-over built only when one happens, a bounded sender restricted to
allowed hosts, exactly one answer per request, and a hand-over only when the work really
outlasts the invocation (crhelper would otherwise hand every request over).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from crhelper import CfnResource

from config import Settings
from deadline import Deadline, DeadlineReached
from log import logger
from properties import (
    PropertyError,
    UserProperties,
    adopts_existing_user,
    check_passwords,
    envelope_problem,
    is_user_id,
    needs_replacement,
    owner_tags,
    parse_properties,
)
from response import is_allowed_response_url, put_response, response_host, shorten_reason
from secrets_source import read_passwords
from users import Ownership, UserAlreadyExistsError, UserLifecycle, UserOperationError, UserSpec

if TYPE_CHECKING:
    from mypy_boto3_elasticache.client import ElastiCacheClient
    from mypy_boto3_elasticache.type_defs import UserTypeDef

FAILED = "FAILED"
# Keys of ResourceProperties that may hold passwords: dropped from the event before crhelper
# stores it in an EventBridge rule for a hand-over (a poll only waits, it needs none of them).
SECRET_PROPERTIES = ("Passwords", "AuthenticationMode")
# Set on the event at hand-over (crhelper carries it into every poll): when polling began.
HANDED_OVER_AT = "HandedOverAt"
DEFAULT_SERVICE_TIMEOUT = 3600.0
CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=15,
)


@functools.lru_cache(maxsize=4)
def elasticache_client(endpoint: str | None) -> ElastiCacheClient:
    """The ElastiCache client for an endpoint (boto3 reads AWS_ENDPOINT_URL_ELASTICACHE itself;
    the argument only keys the cache, so a changed endpoint gets a new client)."""
    return boto3.client("elasticache", config=CLIENT_CONFIG)


def service_timeout(properties: object) -> float:
    """The resource's ServiceTimeout in seconds (CloudFormation's default: 3600)."""
    value = properties.get("ServiceTimeout") if isinstance(properties, Mapping) else None
    try:
        seconds = float(str(value))
    except ValueError:
        return DEFAULT_SERVICE_TIMEOUT
    return seconds if 1 <= seconds <= DEFAULT_SERVICE_TIMEOUT else DEFAULT_SERVICE_TIMEOUT


def not_created_id(event: Mapping[str, Any]) -> str:
    """The physical id of a Create that made nothing. The underscore makes it an impossible
    UserId, so the rollback Delete that follows deletes nothing."""
    return f"not-created_{str(event.get('LogicalResourceId', ''))[:200]}_{str(event.get('RequestId', ''))[:40]}"


def user_data(user: UserTypeDef) -> dict[str, str]:
    """The Fn::GetAtt attributes of a user (strings, as CloudFormation passes them on)."""
    authentication = user.get("Authentication", {})
    return {
        "Arn": user.get("ARN", ""),
        "UserId": user.get("UserId", ""),
        "UserName": user.get("UserName", ""),
        "Status": user.get("Status", ""),
        "Engine": user.get("Engine", ""),
        "MinimumEngineVersion": user.get("MinimumEngineVersion", ""),
        "UserGroupIds": ",".join(user.get("UserGroupIds", [])),
        "AuthenticationType": str(authentication.get("Type", "")),
        "PasswordCount": str(authentication.get("PasswordCount", 0) or 0),
    }


@contextmanager
def _hand_over_clients_deferred() -> Iterator[None]:
    """Make crhelper's constructor skip its lambda/events/logs clients (it does so under
    AWS_SAM_LOCAL): they cost ~30% of a cold start and only a hand-over uses them."""
    before = os.environ.get("AWS_SAM_LOCAL")
    os.environ["AWS_SAM_LOCAL"] = "true"
    try:
        yield
    finally:
        if before is None:
            del os.environ["AWS_SAM_LOCAL"]
        else:
            os.environ["AWS_SAM_LOCAL"] = before


class UserResource(CfnResource):
    """The Custom::ElastiCacheUser resource: one instance serves every invocation."""

    # crhelper's private state, which its type stubs leave out.
    _event: dict[str, Any]
    _context: Any
    _response_url: str
    _region: str | None
    _sam_local: str | None

    def __init__(self, settings: Settings, client: ElastiCacheClient | None = None) -> None:
        """`client` pins an ElastiCache client (e.g. one per simulated container); by default
        a cached one per AWS_ENDPOINT_URL_ELASTICACHE is used."""
        with _hand_over_clients_deferred():
            super().__init__(
                json_logging=False,
                log_level="WARNING",
                boto_level="WARNING",
                polling_interval=settings.poll_interval_minutes,
                sleep_on_delete=0,
            )
        self._sam_local = os.environ.get("AWS_SAM_LOCAL")
        # At DEBUG, crhelper logs whole events and botocore request bodies (passwords, the
        # presigned ResponseURL): keep them above that, whatever the root logger's level.
        for name in ("crhelper", "botocore", "boto3", "urllib3"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.settings = settings
        self._pinned_client = client
        self.outcome = ""
        self._handover = False
        self._answered = False
        self._passwords_seen: set[str] = set()
        self._answer_lock = threading.Lock()
        self.create(self._create)
        self.update(self._update)
        self.delete(self._delete)
        self.poll_create(self._poll_until_active)
        self.poll_update(self._poll_until_active)
        self.poll_delete(self._delete)

    # crhelper's clients, built on first use -------------------------------------------------

    def _client(self, service: str) -> Any:
        return boto3.client(service, region_name=self._region)  # type: ignore[call-overload]

    @functools.cached_property
    def _lambda_client(self) -> Any:
        return self._client("lambda")

    @functools.cached_property
    def _events_client(self) -> Any:
        return self._client("events")

    @functools.cached_property
    def _logs_client(self) -> Any:
        return self._client("logs")

    # Entry ---------------------------------------------------------------------------------

    def handle(self, event: Any, context: Any) -> None:
        """Answer one CloudFormation request (or one poll re-invocation)."""
        self._handover = False
        self._answered = False
        self._passwords_seen.clear()
        self.outcome = ""
        url = event.get("ResponseURL") if isinstance(event, Mapping) else None
        if not is_allowed_response_url(url, self.settings.response_url_allowed_hosts):
            # Not from CloudFormation (or misconfigured): act on nothing, since nobody could be told.
            logger.error(
                "request ignored: ResponseURL is missing or not https on an allowed host",
                extra={"host": response_host(url)},
            )
            self.outcome = "Ignored"
            return
        logger.append_keys(
            stack_id=str(event.get("StackId", ""))[:300],
            request_id=str(event.get("RequestId", ""))[:100],
            logical_resource_id=str(event.get("LogicalResourceId", ""))[:300],
            request_type=str(event.get("RequestType", ""))[:20],
            physical_resource_id=str(event.get("PhysicalResourceId", ""))[:300],
        )
        problem = envelope_problem(event)
        if problem:
            self._answer_malformed(event, context, problem)
            return
        self(event, context)

    def _answer_malformed(self, event: Mapping[str, Any], context: Any, problem: str) -> None:
        """Answer FAILED to a request crhelper could not parse, echoing what it has."""
        logger.error("malformed request", extra={"reason": problem})
        self._context = context
        self._response_url = event["ResponseURL"]
        self.StackId = str(event.get("StackId", ""))
        self.RequestId = str(event.get("RequestId", ""))
        self.LogicalResourceId = str(event.get("LogicalResourceId", ""))
        physical_id = event.get("PhysicalResourceId")
        self.PhysicalResourceId = physical_id if isinstance(physical_id, str) and physical_id else not_created_id(event)
        self.Data = {}
        self.Status = FAILED
        self.Reason = problem
        self.outcome = "Failed"
        self._send()

    # crhelper hooks ------------------------------------------------------------------------

    def _poll_enabled(self) -> bool:
        return "CrHelperPoll" in self._event or self._handover

    def _send(self, status: str | None = None, reason: str = "", send_response: Any = None) -> None:
        with self._answer_lock:
            if self._answered:
                # crhelper's timeout timer and the handler can both try to answer.
                logger.warning("second answer for one request suppressed", extra={"status": status or self.Status})
                return
            self._answered = True
        if not self.PhysicalResourceId:
            physical_id = self._event.get("PhysicalResourceId") if isinstance(self._event, Mapping) else None
            self.PhysicalResourceId = physical_id or not_created_id(self._event)
        self.Reason = shorten_reason(str(self.Reason))
        if status == FAILED:
            self.outcome = "Failed"
        elif not self.outcome:
            self.outcome = "Succeeded" if self.Status != FAILED else "Failed"
        super()._send(status, shorten_reason(reason), send_response=self._put)  # type: ignore[misc]

    def _put(self, url: str, body: Mapping[str, Any], _ssl_verify: object) -> None:
        put_response(
            url,
            body,
            allowed_hosts=self.settings.response_url_allowed_hosts,
            attempts=self.settings.response_attempts,
            timeout=self.settings.response_timeout,
            # Up to just before the deadline: crhelper's timer answers only 0.5 s before it.
            time_left=lambda: self._context.get_remaining_time_in_millis() / 1000 - 0.2,
        )

    # Helpers -------------------------------------------------------------------------------

    def _lifecycle(self) -> UserLifecycle:
        client = self._pinned_client or elasticache_client(os.environ.get("AWS_ENDPOINT_URL_ELASTICACHE"))
        return UserLifecycle(client, self.settings.schedule)

    def _deadline(self, event: Mapping[str, Any], context: Any) -> Deadline:
        seconds = context.get_remaining_time_in_millis() / 1000 - self.settings.deadline_margin
        if "CrHelperPoll" in event:
            # A poll must end before EventBridge starts the next one, or two could answer.
            seconds = min(seconds, self.settings.poll_window)
        return Deadline(seconds)

    def _fail(self, reason: str, physical_id: str) -> str:
        # A reason may quote ElastiCache's own error message: never let it carry a password.
        for secret in self._passwords_seen:
            reason = reason.replace(secret, "****")
        logger.error("request failed", extra={"reason": reason})
        self.Status = FAILED
        self.Reason = reason
        return physical_id

    def _hand_over(self, event: dict[str, Any], physical_id: str) -> str:
        """Leave the rest of the wait to crhelper's poll re-invocations."""
        if self._answered:
            # crhelper's timer has answered already: a poll would answer a second time.
            return physical_id
        if self._sam_local:
            return self._fail(
                f"User '{physical_id}' is still changing at the invocation deadline, and a local "
                "run (AWS_SAM_LOCAL) cannot hand over to a poll. Raise the function timeout.",
                physical_id,
            )
        # crhelper would poll for ever (its issue #5): give up once CloudFormation has stopped
        # waiting, so the answer says why and the poll rule is removed.
        handed_over_at = float(event.setdefault(HANDED_OVER_AT, time.time()))
        limit = service_timeout(event.get("ResourceProperties"))
        if time.time() - handed_over_at >= limit:
            return self._fail(
                f"User '{physical_id}' is still changing {(time.time() - handed_over_at) / 60:.0f} min after "
                f"the hand-over to polling, past the resource's ServiceTimeout ({limit:.0f} s), so "
                "CloudFormation no longer waits for it. Check the user in ElastiCache.",
                physical_id,
            )
        for key in ("ResourceProperties", "OldResourceProperties"):
            if isinstance(event.get(key), dict):
                event[key] = {k: v for k, v in event[key].items() if k not in SECRET_PROPERTIES}
        logger.info("still in progress at the deadline: handing over to poll re-invocations")
        self._handover = True
        self.outcome = "HandedOver"
        return physical_id

    def _guarded(self, event: dict[str, Any], physical_id: str, work: Callable[[], str]) -> str:
        """Run `work`, turning every failure into a FAILED answer with a reason a person can use."""
        try:
            return work()
        except (PropertyError, UserOperationError) as error:
            return self._fail(str(error), physical_id)
        except DeadlineReached:
            return self._hand_over(event, physical_id)
        except Exception as error:  # noqa: BLE001 - CloudFormation must hear of any failure.
            logger.exception("unexpected error")
            return self._fail(
                f"Internal error ({type(error).__name__}) in the custom resource; see the function's "
                f"logs for request {event.get('RequestId', '')}.",
                physical_id,
            )

    def _passwords(self, properties: UserProperties) -> tuple[str, ...]:
        if properties.secret is None:
            return properties.spec.passwords
        origin = "PasswordSecretId" if properties.secret.kind == "secretsmanager" else "PasswordParameterName"
        return check_passwords(read_passwords(properties.secret, origin), f"The passwords in {origin}")

    def _spec(self, event: Mapping[str, Any], properties: UserProperties) -> UserSpec:
        """The user to make: the properties with their passwords read and the ownership tags added."""
        passwords = self._passwords(properties)
        self._passwords_seen.update(passwords)
        return dataclasses.replace(
            properties.spec,
            passwords=passwords,
            tags={**properties.spec.tags, **self._ownership(event).tags},
        )

    def _ownership(self, event: Mapping[str, Any]) -> Ownership:
        return Ownership(owner_tags(event["StackId"], event["LogicalResourceId"]))

    # Create --------------------------------------------------------------------------------

    def _create(self, event: dict[str, Any], context: Any) -> str:
        return self._guarded(event, not_created_id(event), lambda: self._make_user(event, context))

    def _make_user(self, event: dict[str, Any], context: Any) -> str:
        """Create the user (or take over one this resource owns or may adopt); returns its id."""
        properties = parse_properties(event.get("ResourceProperties") or {})
        spec = self._spec(event, properties)
        lifecycle = self._lifecycle()
        deadline = self._deadline(event, context)
        try:
            lifecycle.create(spec)
        except UserAlreadyExistsError as exists:
            try:
                user = self._take_over(lifecycle, spec, properties, event, deadline, exists)
            except DeadlineReached:
                return self._hand_over(event, spec.user_id)
        else:
            try:
                user = lifecycle.wait_until_active(spec.user_id, deadline)
            except DeadlineReached:
                return self._hand_over(event, spec.user_id)
            except UserOperationError:
                self._remove_failed_user(lifecycle, spec.user_id, event, deadline)
                raise
        self.Data = user_data(user)
        return spec.user_id

    def _take_over(
        self,
        lifecycle: UserLifecycle,
        spec: UserSpec,
        properties: UserProperties,
        event: Mapping[str, Any],
        deadline: Deadline,
        exists: UserAlreadyExistsError,
    ) -> UserTypeDef:
        """Bring an existing user in line with `spec`, if this resource owns it or may adopt it.

        A user this resource already owns is met again on a retried Create and on the
        rollback of a replacement; any other user only with AdoptExistingUser, else
        CreateUser's `exists` error stands.
        """
        existing = lifecycle.describe(spec.user_id)
        if existing is None:
            raise UserOperationError(f"User '{spec.user_id}' was reported to exist but cannot be found; retry.")
        found = lifecycle.tags_of(existing)
        owned = self._ownership(event).describe_mismatch(found) is None
        if not owned and not properties.adopt_existing:
            raise exists
        if existing.get("UserName") != spec.user_name:
            raise UserOperationError(
                f"User '{spec.user_id}' already exists with another UserName, which cannot be changed in place."
            )
        logger.info("taking over existing user", extra={"user_id": spec.user_id, "owned": owned})
        lifecycle.set_tags(existing, found, {**found, **spec.tags})
        arguments: dict[str, Any] = {"AccessString": spec.access_string, **spec.authentication_arguments()}
        if existing.get("Engine") != spec.engine:
            arguments["Engine"] = spec.engine
        return lifecycle.modify(spec.user_id, arguments, deadline)

    def _remove_failed_user(
        self, lifecycle: UserLifecycle, user_id: str, event: Mapping[str, Any], deadline: Deadline
    ) -> None:
        """Delete a user this request made before failing, so no orphan is left behind."""
        try:
            lifecycle.delete(user_id, deadline, self._ownership(event))
        except (UserOperationError, DeadlineReached) as error:
            logger.warning(
                "could not remove the user a failed Create made", extra={"user_id": user_id, "error": str(error)}
            )

    # Update --------------------------------------------------------------------------------

    def _update(self, event: dict[str, Any], context: Any) -> str:
        physical_id = str(event["PhysicalResourceId"])
        return self._guarded(event, physical_id, lambda: self._change_user(event, context, physical_id))

    def _change_user(self, event: dict[str, Any], context: Any, physical_id: str) -> str:
        new = parse_properties(event.get("ResourceProperties") or {})
        try:
            old: UserProperties | None = parse_properties(event.get("OldResourceProperties") or {})
        except PropertyError:
            old = None  # unreadable old properties: everything is set again
        target = new.spec
        if target.user_id != physical_id.lower():
            logger.info("replacement", extra={"new_user_id": target.user_id})
            return self._make_user(event, context)
        before = old.spec if old else None
        replace = needs_replacement(before, target) if before else []
        if replace:
            # As for a custom-named native resource: the new user cannot share the old one's id.
            raise PropertyError(
                f"Changing {', '.join(replace)} replaces the user, and the new user needs a new UserId: "
                "change UserId as well."
            )
        arguments: dict[str, Any] = {}
        if before is None or target.access_string != before.access_string:
            arguments["AccessString"] = target.access_string
        if old is None or (target.authentication, target.passwords, new.secret) != (
            old.spec.authentication,
            old.spec.passwords,
            old.secret,
        ):
            arguments.update(self._spec(event, new).authentication_arguments())
        if before is not None and target.engine != before.engine:
            arguments["Engine"] = target.engine
        lifecycle = self._lifecycle()
        deadline = self._deadline(event, context)
        if arguments:
            user = lifecycle.modify(target.user_id, arguments, deadline)
        else:
            user = lifecycle.wait_until_active(target.user_id, deadline)
        old_tags = before.tags if before else {}
        if target.tags != old_tags:
            lifecycle.set_tags(user, old_tags, target.tags)
        self.Data = user_data(user)
        return target.user_id

    # Polls and Delete ----------------------------------------------------------------------

    def _poll_until_active(self, event: dict[str, Any], context: Any) -> str | None:
        physical_id = str(self.Data.get("PhysicalResourceId") or event.get("PhysicalResourceId", ""))

        def wait() -> str:
            self.Data = {
                "PhysicalResourceId": physical_id,
                **user_data(self._lifecycle().wait_until_active(physical_id, self._deadline(event, context))),
            }
            return physical_id

        result = self._guarded(event, physical_id, wait)
        # crhelper: None keeps polling; a physical id (or a failure) ends it.
        return None if self._handover else result

    def _delete(self, event: dict[str, Any], context: Any) -> str | None:
        physical_id = str(event["PhysicalResourceId"])
        if not is_user_id(physical_id):
            logger.info("physical id is not a UserId: no user was created, nothing to delete")
            return physical_id
        adopt = adopts_existing_user(event.get("ResourceProperties") or {})

        def delete() -> str:
            self._lifecycle().delete(physical_id.lower(), self._deadline(event, context), self._ownership(event), adopt)
            return physical_id

        result = self._guarded(event, physical_id, delete)
        return None if self._handover and "CrHelperPoll" in event else result
