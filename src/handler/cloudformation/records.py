"""Applied-state records: what the last successful Create or Update (or its rollback) applied
to a user, kept in Parameter Store so that the drift function (`drift/app.py`) can compare the
user with it.

One String parameter per user, `<DRIFT_RECORD_PATH>/<provider stack name>/<UserId>`, holding
JSON: UserId, UserName, Engine, AccessString, the authentication type, the declared
UserGroupIds, the template's Tags, the ownership and binding tags, StackId and
LogicalResourceId. Never a password, nor how many there are (a rotation is not drift).

The AccessString is kept as ElastiCache reported it once the request was done
(`AccessStringForm: reported`), so that ElastiCache's rewriting of it is never drift. A
request handed over to polls records the declared string first (`declared`); the poll that
finishes it writes the reported one.

Writing a record never fails a request (docs/aws-behaviour.md, Parameter Store): a failure
is logged, counted (metric `DriftRecordFailed`) and the stale record removed, so the user is
reported `unknown` until its next Update rewrites it. A record over Parameter Store's
4096-character standard value (only with long tags: 9 of the maximum 128 + 256 characters
pass it) is not written either: the same path, and the log names its size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.exceptions import ClientError

from cloudformation.outcomes import Done, Outcome, Pending
from cloudformation.request import CfnRequest, stack_name
from cloudformation.work import Converging
from rules.envelope import is_user_id
from runtime.clients import aws_client, bounded_by
from runtime.deadline import Deadline
from runtime.environment import SETTING
from runtime.exceptions import error_code
from runtime.log import SERVICE, logger
from runtime.metrics import DRIFT_RECORD_FAILED

# Parameter Store's standard tier: values up to 4096 characters (PutParameter reference).
VALUE_MAX = 4096
# Seconds a record write may take at most, out of the work's time (never the margin kept for
# the answer): a throttled or unreachable Parameter Store delays an answer by this much at most.
WRITE_SECONDS = 5.0
# Written in every record, so that a later provider version can tell this layout from its own.
FORMAT = 1


class RecordError(Exception):
    """A record that cannot be written; the message says why."""


class Record(NamedTuple):
    """The state one request applied to a user (nothing secret)."""

    user_id: str
    user_name: str
    engine: str
    access_string: str
    access_string_form: str  # "reported" (ElastiCache's own form) or "declared" (the template's)
    authentication: str  # as the properties name it: password, iam, no-password-required
    group_ids: tuple[str, ...]
    tags: Mapping[str, str]
    ownership: Mapping[str, str]
    stack_id: str
    logical_id: str

    def as_json(self) -> str:
        return json.dumps(
            {
                "Format": FORMAT,
                "UserId": self.user_id,
                "UserName": self.user_name,
                "Engine": self.engine,
                "AccessString": self.access_string,
                "AccessStringForm": self.access_string_form,
                "AuthenticationType": self.authentication,
                "UserGroupIds": list(self.group_ids),
                "Tags": dict(self.tags),
                "OwnershipTags": dict(self.ownership),
                "StackId": self.stack_id,
                "LogicalResourceId": self.logical_id,
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Record:
        """A record read back; RecordError when it is not one this code wrote."""
        try:
            value = json.loads(text)
            return cls(
                user_id=str(value["UserId"]),
                user_name=str(value["UserName"]),
                engine=str(value["Engine"]),
                access_string=str(value["AccessString"]),
                access_string_form=str(value.get("AccessStringForm", "declared")),
                authentication=str(value["AuthenticationType"]),
                group_ids=tuple(str(g) for g in value["UserGroupIds"]),
                tags={str(k): str(v) for k, v in dict(value["Tags"]).items()},
                ownership={str(k): str(v) for k, v in dict(value["OwnershipTags"]).items()},
                stack_id=str(value["StackId"]),
                logical_id=str(value["LogicalResourceId"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise RecordError(f"not a record ({type(error).__name__})") from error


def of_request(request: CfnRequest, reported_access_string: str = "") -> Record:
    """The record of a Create or Update's properties (PropertyError if they do not parse)."""
    from rules.properties import binding_tags, parse_properties  # Create and Update only: not at a Delete's cold start

    properties = parse_properties(request.properties)
    spec = properties.spec
    return Record(
        user_id=spec.user_id,
        user_name=spec.user_name,
        engine=spec.engine.lower(),
        access_string=reported_access_string or spec.access_string,
        access_string_form="reported" if reported_access_string else "declared",
        authentication=spec.authentication,
        group_ids=properties.group_ids,
        tags=dict(spec.tags),
        ownership={**request.owner.tags, **binding_tags(properties)},
        stack_id=request.stack_id,
        logical_id=request.logical_id,
    )


def base_path() -> str:
    """`<DRIFT_RECORD_PATH>/<provider stack name>`, or '' when recording is off."""
    path = SETTING["DRIFT_RECORD_PATH"].text().strip().rstrip("/")
    if not path:
        return ""
    name = stack_name(SETTING["PROVIDER_ID"].text() or SETTING["PROVIDER_ID"].default)
    return f"{'/' + path.lstrip('/')}/{name}"


class RecordStore:
    """The records in Parameter Store (one client, bounded by the deadline in force)."""

    def __init__(self, path: str, client: Any = None) -> None:
        self.path = path
        self._client = client or aws_client("ssm", SETTING["DEADLINE_MARGIN_SECONDS"].number())

    @property
    def client(self) -> Any:
        return self._client

    def name(self, user_id: str) -> str:
        return f"{self.path}/{user_id}"

    def put(self, record: Record) -> None:
        value = record.as_json()
        if len(value) > VALUE_MAX:
            raise RecordError(
                f"the record is {len(value)} characters, over Parameter Store's {VALUE_MAX} for a standard "
                "parameter (long Tags)"
            )
        self._client.put_parameter(Name=self.name(record.user_id), Value=value, Type="String", Overwrite=True)

    def get(self, user_id: str) -> Record | None:
        try:
            text = self._client.get_parameter(Name=self.name(user_id))["Parameter"]["Value"]
        except ClientError as error:
            if error_code(error) == "ParameterNotFound":
                return None
            raise
        return Record.from_json(text)

    def delete(self, user_id: str) -> None:
        try:
            self._client.delete_parameter(Name=self.name(user_id))
        except ClientError as error:
            if error_code(error) != "ParameterNotFound":
                raise


def _failed(what: str, user_id: str, error: Exception, store: RecordStore, deadline: Deadline) -> None:
    """A record that could not be written: logged, counted, and the stale one removed (within
    `deadline`: if that fails too, the stale record may show false drift until the next Update)."""
    logger.error(
        "applied-state record not written: drift reports this user as unknown until its next Update",
        extra={"user_id": user_id, "record": store.name(user_id), "action": what, "error": f"{error}"[:300]},
    )
    try:
        with single_metric(
            name=DRIFT_RECORD_FAILED,
            unit=MetricUnit.Count,
            value=1,
            namespace=SETTING["POWERTOOLS_METRICS_NAMESPACE"].text(),
        ) as metric:
            metric.add_dimension(name="service", value=SERVICE)
        if what == "put":
            with bounded_by(deadline):
                store.delete(user_id)
    except Exception as again:  # noqa: BLE001 - logged; the request must still be answered.
        logger.error("stale record not removed either", extra={"user_id": user_id, "error": f"{again}"[:300]})


def after(request: CfnRequest, outcome: Outcome, time_left: float, store: RecordStore | None = None) -> None:
    """Record what a request applied (or remove the record of a deleted user); never raises.

    A Create or Update that is Done or handed over (still converging) records its properties;
    the poll that finishes one records the access string as ElastiCache reports it; a Delete
    that is Done removes the record. `time_left`: seconds the writes may take at most.
    """
    path = base_path() if store is None else store.path
    if not path or not is_user_id(outcome.physical_id) or not _recorded(request, outcome):
        return
    user_id = outcome.physical_id.lower()
    store = store or RecordStore(path)
    # The write gets 60% of the budget; removing the stale record after a failed write the rest.
    budget = max(0.0, min(WRITE_SECONDS, time_left))
    end = Deadline(budget)
    try:
        with bounded_by(Deadline(budget * 0.6)):
            if request.request_type == "Delete":
                _delete_own(store, request, user_id)
            elif request.is_poll:
                _settle_access_string(store, user_id, outcome.access_string if isinstance(outcome, Done) else "")
            else:
                _put_declared(store, request, user_id, outcome.access_string if isinstance(outcome, Done) else "")
    except Exception as error:  # noqa: BLE001 - never fails the request: logged, counted, then unknown.
        _failed("delete" if request.request_type == "Delete" else "put", user_id, error, store, end)


def _delete_own(store: RecordStore, request: CfnRequest, user_id: str) -> None:
    """Remove the record only when it names the Delete's resource: a Delete in a cleanup phase is
    confirmed by the stack's status alone, and a forged one naming another resource's user (gone,
    so it counts as deleted) must not blind the drift function to that user."""
    record = store.get(user_id)
    if record is None:
        return
    if (record.stack_id, record.logical_id) != (request.stack_id, request.logical_id):
        logger.warning(
            "applied-state record kept: it names another resource",
            extra={"user_id": user_id, "record_stack_id": record.stack_id, "record_logical_id": record.logical_id},
        )
        return
    store.delete(user_id)


def _recorded(request: CfnRequest, outcome: Outcome) -> bool:
    """Whether the outcome changes the record: a Delete done; a Create or Update done, or
    handed over while still converging (not a failed request's user being removed)."""
    if isinstance(outcome, Done):
        return True
    return (
        request.request_type != "Delete"
        and not request.is_poll
        and isinstance(outcome, Pending)
        and isinstance(outcome.resume, Converging)
    )


def _put_declared(store: RecordStore, request: CfnRequest, user_id: str, reported: str) -> None:
    record = of_request(request, reported)
    if record.user_id != user_id:
        raise RecordError(f"the outcome names user '{user_id}', the properties '{record.user_id}'")
    store.put(record)


def _settle_access_string(store: RecordStore, user_id: str, access_string: str) -> None:
    """The poll that finished a handed-over request: the access string as ElastiCache reports it."""
    record = store.get(user_id)
    if record is None or not access_string or record.access_string_form == "reported":
        return
    store.put(record._replace(access_string=access_string, access_string_form="reported"))
