"""template.yaml's alarms and dashboard name only metrics the functions really emit: the
scenarios below run the provider, the failure notifier and the drift function against the
stand-ins, the EMF lines powertools prints are read back, and every metric an alarm or a widget
names must be among them, in the namespace and with the dimensions the emitting function writes
in AWS (its POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_SERVICE_NAME in template.yaml)."""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from local import iam_gate
from local.context import LambdaContext
from local.fake_cloudformation import FakeCloudFormation
from local.fake_elasticache import FakeElastiCache
from local.fake_handover import FakeHandOver
from local.fake_ssm import FakeSsm
from local.receiver import Receiver
from provider.cfn_resource import Result
from runtime import metrics as table
from runtime.environment import SETTING
from tests.conftest import OWNER, STACK_ID, Invoke, load_event, with_properties

ROOT = Path(__file__).resolve().parent.parent
# The functions that emit metrics, by their resource in template.yaml.
EMITTERS = {"provider": "ElastiCacheUserFunction", "notifier": "FailureNotifierFunction", "drift": "DriftFunction"}
LAMBDA = "AWS/Lambda"  # Lambda's own metrics (Duration): named by FunctionName, not emitted by our code


class Metric(NamedTuple):
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]


def template() -> dict[str, Any]:
    from lint.cfn_yaml import load_template

    return load_template(ROOT / "template.yaml")


def emf(out: str) -> Iterator[tuple[str, str, tuple[str, ...], dict[str, Any]]]:
    """(namespace, metric name, dimension names, the line) of every EMF line in `out`."""
    for line in out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    yield directive["Namespace"], metric["Name"], tuple(dimension_set), document


class Emissions:
    """What each function printed: metric names, namespaces and dimensions, by function."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.by_function: dict[str, set[Metric]] = {function: set() for function in EMITTERS}

    def run(self, function: str, scenario: Callable[[], object]) -> None:
        self._capsys.readouterr()
        scenario()
        for namespace, name, dimension_names, line in emf(self._capsys.readouterr().out):
            dimensions = tuple((key, str(line[key])) for key in dimension_names)
            self.by_function[function].add(Metric(namespace, name, dimensions))

    def in_aws(self) -> set[Metric]:
        """The same metrics as each function writes them in AWS: its template environment's
        namespace and service name in place of the test run's (the code reads both from it)."""
        seen = set()
        resources = template()["Resources"]
        for function, metrics in self.by_function.items():
            environment = resources[EMITTERS[function]]["Properties"]["Environment"]["Variables"]
            for metric in metrics:
                assert metric.namespace == os.environ["POWERTOOLS_METRICS_NAMESPACE"], metric
                assert dict(metric.dimensions) == {"service": SETTING["POWERTOOLS_SERVICE_NAME"].text()}, metric
                namespace = environment["POWERTOOLS_METRICS_NAMESPACE"]
                seen.add(Metric(namespace, metric.name, (("service", environment["POWERTOOLS_SERVICE_NAME"]),)))
        return seen


def alarm_metrics(resources: dict[str, Any]) -> dict[str, set[Metric]]:
    """Every metric each alarm watches (plain, or the MetricStats of a metric-math alarm)."""
    found: dict[str, set[Metric]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        properties = resource["Properties"]
        stats = [m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m]
        if "MetricName" in properties:
            stats.append(properties)
        found[logical_id] = {
            Metric(s["Namespace"], s["MetricName"], tuple((d["Name"], d["Value"]) for d in s.get("Dimensions", [])))
            for s in stats
        }
    return found


def dashboard_metrics(resources: dict[str, Any]) -> dict[str, set[Metric]]:
    """Every metric each dashboard widget graphs, read from the DashboardBody (JSON in a !Sub)."""
    found: dict[str, set[Metric]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::CloudWatch::Dashboard":
            continue
        text = resource["Properties"]["DashboardBody"]["Fn::Sub"]
        body = json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: m.group(1).replace("AWS::StackName", "STACK"), text))
        for widget in body["widgets"]:
            rows = widget["properties"].get("metrics", [])
            for row in rows:
                names = [part for part in row if isinstance(part, str)]
                assert "." not in names, f"{widget['properties']['title']}: write every field, no '.' shorthand"
                namespace, name, *pairs = names
                dimensions = tuple(zip(pairs[::2], pairs[1::2], strict=True))
                found.setdefault(f"{logical_id} / {widget['properties']['title']}", set()).add(
                    Metric(namespace, name, dimensions)
                )
    return found


def unknown_metrics(resources: dict[str, Any], emitted: set[Metric]) -> list[str]:
    """What an alarm or widget names that no function emits (Lambda's own metrics aside)."""
    problems = []
    for where, metrics in {**alarm_metrics(resources), **dashboard_metrics(resources)}.items():
        problems += [f"{where}: {m}" for m in sorted(metrics) if m.namespace != LAMBDA and m not in emitted]
    return problems


def table_names() -> set[str]:
    """Every name runtime/metrics.py allows."""
    prefixes = (*table.REQUEST_TYPES, table.OTHER_REQUEST)
    outcomes = {table.outcome(prefix, result.value) for prefix in prefixes for result in Result}
    return outcomes | {table.REQUESTS_REFUSED, table.DRIFT_RECORD_FAILED, table.NOTIFIER_ANSWERED, table.DRIFTED_USERS}


# The scenarios ------------------------------------------------------------------------------


def notify(payload: dict[str, Any]) -> None:
    from notifier import app as notifier

    wrapper = json.loads((ROOT / "tests" / "events" / "async-failure-create.json").read_text())
    with iam_gate.acting("notifier"):
        notifier.lambda_handler({**wrapper, "requestPayload": payload}, LambdaContext(timeout_seconds=30))


def drift_check() -> None:
    from drift import app as drift

    with iam_gate.acting("drift"):
        drift.lambda_handler({}, LambdaContext(60, function_name=iam_gate.FUNCTION_NAMES["drift"]))


def update_of(created: dict[str, Any], receiver: Receiver, **properties: Any) -> dict[str, Any]:
    event = load_event("update.json", receiver)
    event = {**event, "ResourceProperties": created["ResourceProperties"]}
    event["OldResourceProperties"] = created["ResourceProperties"]
    return with_properties(event, **properties)


@pytest.fixture
def emissions(
    fake: FakeElastiCache,
    ssm: FakeSsm,
    hand_over: FakeHandOver,
    poll_function: str,
    cloudformation: FakeCloudFormation,
    receiver: Receiver,
    invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Emissions:
    """A Create, Update and Delete; each failing; a record not written; a forged request; the
    notifier answering; a Create and a Delete handed over to polling; a drifted user."""
    monkeypatch.setenv("DRIFT_CALLS_PER_SECOND", "100")
    seen = Emissions(capsys)
    fake.add_group("app-readers")
    created = with_properties(load_event("create.json", receiver), UserGroupIds=["app-readers"])
    seen.run("provider", lambda: invoke(created))
    seen.run("provider", lambda: invoke(update_of(created, receiver, AccessString="on ~app:* +@read")))
    seen.run("provider", lambda: invoke(with_properties(load_event("create.json", receiver), Engine="memcached")))
    seen.run("provider", lambda: invoke(update_of(created, receiver, Engine="memcached")))
    ssm.broken["PutParameter"] = "AccessDeniedException"
    seen.run("provider", lambda: invoke(update_of(created, receiver, AccessString="on ~app:* +@write")))
    ssm.broken.clear()
    seen.run("provider", lambda: invoke(update_of(created, receiver, AccessString="on ~app:* +@read")))
    user = fake.users["app-user-1"]
    with fake.lock:  # changed behind the stack's back
        user.access_string = "on ~* +@all"
        fake.mirror(user)
    seen.run("drift", drift_check)
    seen.run("provider", lambda: invoke(load_event("delete.json", receiver)))
    crashed = load_event("delete.json", receiver, LogicalResourceId="AppUser5", PhysicalResourceId="app-user-5")
    seen.run("notifier", lambda: notify({**crashed, "RequestId": "a-crashed-delete"}))
    fake.add_user("app-user-2", tags={**OWNER, "elasticache-user-resource:logical-id": "AppUser2"})
    fake.delete_seconds, fake.failing_deletes = 0.3, {"app-user-2"}
    failing = load_event("delete.json", receiver, PhysicalResourceId="app-user-2", LogicalResourceId="AppUser2")
    seen.run("provider", lambda: invoke(failing))
    fake.add_user("app-user-3", tags={**OWNER, "elasticache-user-resource:logical-id": "AppUser3"})
    fake.delete_seconds = 2.5  # 3.5 s of Lambda time with a 2 s margin: handed over after 1.5 s
    slow = load_event("delete.json", receiver, PhysicalResourceId="app-user-3", LogicalResourceId="AppUser3")
    seen.run("provider", lambda: invoke(slow, timeout=3.5))
    fake.create_seconds = 2.5
    slow_create = load_event("create.json", receiver, LogicalResourceId="AppUser4")
    slow_create = with_properties(slow_create, UserId="app-user-4")
    seen.run("provider", lambda: invoke(slow_create, timeout=3.5))
    cloudformation.plays_cloudformation = False  # a Delete while CloudFormation shows the stack idle
    cloudformation.put(STACK_ID, "UPDATE_COMPLETE", "AppUser", "UPDATE_COMPLETE", "app-user-1")
    fake.add_user("app-user-1", tags=dict(OWNER))
    seen.run("provider", lambda: invoke(load_event("delete.json", receiver)))
    return seen


def test_every_alarm_and_widget_names_a_metric_the_functions_emit(emissions: Emissions) -> None:
    emitted = emissions.in_aws()
    names = {metric.name for metric in emitted}
    assert names <= table_names(), f"emitted outside runtime/metrics.py: {names - table_names()}"
    # The scenarios reached what the alarms are for (a check that the collection itself works).
    assert {"CreateFailed", "UpdateFailed", "DeleteFailed", "RequestsRefused", "AnsweredByNotifier"} <= names
    assert {"DriftedUsers", "DriftRecordFailed", "DeleteHandedOver", "CreateHandedOver"} <= names
    resources = template()["Resources"]
    assert unknown_metrics(resources, emitted) == []
    assert len(alarm_metrics(resources)) == 5 and dashboard_metrics(resources)

    # A misspelt name, a metric of another function's service, a wrong namespace: each is caught.
    for resource, field, wrong in (
        ("DriftedUsersAlarm", "MetricName", "DriftedUser"),
        ("NotifierAnswersAlarm", "Dimensions", [{"Name": "service", "Value": "elasticache-user-resource"}]),
        ("RefusedRequestsAlarm", "Namespace", "ElastiCacheUserResources"),
    ):
        planted = copy.deepcopy(resources)
        planted[resource]["Properties"][field] = wrong
        [problem] = unknown_metrics(planted, emitted)
        assert problem.startswith(resource), problem
    planted = copy.deepcopy(resources)
    body = planted["ElastiCacheUserDashboard"]["Properties"]["DashboardBody"]
    body["Fn::Sub"] = body["Fn::Sub"].replace('"DeleteHandedOver"', '"DeleteHandedover"')
    [problem] = unknown_metrics(planted, emitted)
    assert "Hand-overs" in problem and "DeleteHandedover" in problem


def test_the_dashboards_durations_are_each_functions_own() -> None:
    resources = template()["Resources"]
    graphed = {
        dict(m.dimensions)["FunctionName"]
        for metrics in dashboard_metrics(resources).values()
        for m in metrics
        if (m.namespace, m.name) == (LAMBDA, "Duration")
    }
    functions = {
        r["Properties"]["FunctionName"]["Fn::Sub"].replace("${AWS::StackName}", "STACK")
        for r in resources.values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    assert graphed == functions and len(functions) == 4
    # Dashboards are global to the account: one stack name in two Regions must not share one.
    dashboards = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    [name] = [properties["DashboardName"]["Fn::Sub"] for properties in dashboards]
    assert "${AWS::Region}" in name
