"""One source for every fact: the docs' reference sections (docs/template-authors.md,
docs/operators.md), the JSON Schema and the template's environment say what the code's tables
and the template say, by value; the performance figures in docs/internals.md are the last
benchmark run's (bench/RESULTS.txt)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from lint import reference
from rules.properties import parse_properties
from rules.property_table import AUTHENTICATION_PROPERTIES, STAND_IN_PASSWORD, TAGS_MAX
from runtime.config import POLL_OVERLAP_GUARD, Settings
from runtime.environment import SETTINGS
from runtime.exceptions import PropertyError
from tests.conftest import ROOT
from tests.test_template import template

FUNCTIONS = {
    "provider": "ElastiCacheUserFunction",
    "notifier": "FailureNotifierFunction",
    "rotation": "RotationFunction",
    "drift": "DriftFunction",
}
VALID = {
    "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f",
    "UserId": "app-user-1",
    "UserName": "app-user-1",
    "Engine": "redis",
    "AccessString": "on ~app:* +@read",
    "Passwords": [STAND_IN_PASSWORD],
}
VALIDATOR = Draft202012Validator(reference.schema())


def handler_accepts(properties: dict[str, Any]) -> bool:
    try:
        parse_properties({k: v for k, v in properties.items() if k not in ("ServiceToken", "ServiceTimeout")})
    except PropertyError:
        return False
    return True


def test_the_docs_and_the_schema_are_generated_from_the_tables() -> None:
    for page in reference.PAGES:
        text = page.read_text()
        assert reference.rendered(text, page) == text, f"{page.name} out of date: python -m lint.reference"
    assert reference.SCHEMA.read_text() == reference.schema_text(), "schema out of date: python -m lint.reference"
    page = reference.TEMPLATE_AUTHORS
    readme = page.read_text()
    drifted = readme.replace("at most 40. Stored lower-case", "at most 41. Stored lower-case", 1)
    assert drifted != readme and reference.rendered(drifted, page) == readme
    assert reference.main(["--check"]) == 0


def test_the_parameter_table_is_the_templates_every_parameter() -> None:
    page = reference.OPERATORS
    text = page.read_text()
    section = text.split("<!-- generated: parameters -->")[1].split("<!-- end: parameters -->")[0]
    shown = re.findall(r"^\| `(\w+)` \|", section, re.M)
    assert shown == list(template()["Parameters"]) and "UserGroupIdPrefix" in shown and "CreateExampleUser" in shown
    for name, spec in template()["Parameters"].items():
        row = next(line for line in section.splitlines() if line.startswith(f"| `{name}` |"))
        assert " ".join(spec["Description"].split()) in row, name
    drifted = text.replace("| `UserGroupIdPrefix` |", "| `UserGroupPrefix` |", 1)
    assert drifted != text and reference.rendered(drifted, page) == text
    log_groups = text.split("<!-- generated: functions -->")[1].split("<!-- end: functions -->")[0]
    for logical_id in FUNCTIONS.values():
        assert f"| `{logical_id}` |" in log_groups
    assert "`/aws/lambda/<stack>-elasticache-user` |" in log_groups


def test_the_performance_figures_are_the_last_benchmark_runs() -> None:
    page = reference.INTERNALS
    text = page.read_text()
    results = reference.RESULTS.read_text()
    for title, body in reference.results_sections(results):
        assert f"#### {title}\n\n```text\n{body}\n```" in text, title
    stack = next(body for title, body in reference.results_sections(results) if title.startswith("Stack: 500"))
    create = next(line for line in stack.splitlines() if "| Create |" in line)
    assert create in text
    assert "26.8" not in text and "22.9" not in text  # what the README once showed for that row
    # A figure that parts from the results is rewritten, and a section a new benchmark adds appears.
    drifted = text.replace(create, create.replace(" 500 / 0 / 0 |", " 499 / 1 / 0 |"), 1)
    assert drifted != text and reference.rendered(drifted, page) == text
    added = reference.results_sections(results + "\nConsent: cost of the check\n  a | b\n  1 | 2\n")
    assert added[-1] == ("Consent: cost of the check", "  a | b\n  1 | 2")
    assert [title for title, _ in added[:-1]] == [title for title, _ in reference.results_sections(results)]


def test_every_function_environment_is_the_settings_table_by_value() -> None:
    parameters = template()["Parameters"]
    for function, logical_id in FUNCTIONS.items():
        variables = template()["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        expected = {s.name: s for s in SETTINGS if function in s.functions}
        assert set(variables) == set(expected), function
        for name, value in variables.items():
            setting = expected[name]
            if setting.template:
                assert value == {"Ref": setting.template}, name
                if not setting.template.startswith("AWS::"):
                    assert parameters[setting.template]["Default"] == setting.default, name
            elif name == "POWERTOOLS_SERVICE_NAME" and function != "provider":
                assert value != setting.default and value.startswith("elasticache-user"), (function, value)
            else:
                assert value == setting.default, (function, name, value)


def test_the_code_reads_no_variable_outside_the_table() -> None:
    names = {s.name for s in SETTINGS}
    for path in (ROOT / "src" / "handler").rglob("*.py"):
        text = path.read_text()
        for name in re.findall(r'SETTING\["([A-Z_]+)"\]', text):
            assert name in names, (path.name, name)
        for name in re.findall(r'os\.environ(?:\.get\(|\[)"([A-Z_]+)"', text):
            assert name.startswith("AWS_"), (path.name, name)  # Lambda's and botocore's own


def test_the_docs_prose_states_the_defaults_the_code_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    defaults, readme = Settings.from_environment(), reference.TEMPLATE_AUTHORS.read_text()
    schedule = defaults.schedule
    assert (
        f"`DescribeUsers` after {schedule.initial:g} s, then at intervals growing by {schedule.growth:g}x to at most "
        f"{schedule.maximum:g} s" in readme
    )
    assert defaults.poll_window == 60 - POLL_OVERLAP_GUARD
    assert f"each poll waiting up to {defaults.poll_window:g} s" in readme
    ways = [f"`{name}`" for name in AUTHENTICATION_PROPERTIES]
    assert f"Exactly one of {', '.join(ways[:-1])} and {ways[-1][:-1]}: true` must be set" in " ".join(readme.split())


def test_the_schema_is_valid_and_accepts_the_examples() -> None:
    Draft202012Validator.check_schema(reference.schema())
    for path in sorted((ROOT / "events").glob("*.json")):
        properties = json.loads(path.read_text())["ResourceProperties"]
        assert handler_accepts(properties) and VALIDATOR.is_valid(properties), path.name


BROKEN = [
    {"UserId": "1-starts-with-a-digit"},
    {"UserId": "a" * 41},
    {"UserName": "has space"},
    {"Engine": "memcached"},
    {"Engine": "val\u212aey"},  # the Kelvin sign: str.lower() makes it a "k"
    {"AccessString": "  "},
    {"Passwords": ["short"]},
    {"Passwords": [STAND_IN_PASSWORD] * 3},
    {"Passwords": ["has/slash-but-is-long-enough"]},
    {"PasswordSecretId": "elasticache/app"},  # two ways of authenticating
    {"Passwords": None, "NoPasswordRequired": "false"},  # none (None: the key is dropped below)
    {"Engine": "valkey", "Passwords": None, "NoPasswordRequired": "TRUE"},
    {"AuthenticationMode": {"Type": "iam", "Passwords": [STAND_IN_PASSWORD]}, "Passwords": None},
    {"Tags": [{"Key": "aws:cloudformation", "Value": "x"}]},
    {"Tags": [{"Key": "k", "Value": "v" * 257}]},
    {"Tags": [{"Key": f"k{i}", "Value": ""} for i in range(TAGS_MAX + 1)]},
    {"UserGroupIds": ["readers", "readers"]},
    {"UserGroupIds": ["not_an_id"]},
    {"AdoptExistingUser": "yes"},
    {"Surprise": "x"},
]


@pytest.mark.parametrize("change", BROKEN, ids=lambda c: ",".join(c))
def test_what_the_schema_refuses_the_provider_refuses_too(change: dict[str, Any]) -> None:
    properties = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    assert not VALIDATOR.is_valid(properties)
    assert not handler_accepts(properties)


def _variants(valid: list[Any], broken: list[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(valid), st.sampled_from(broken), st.text(max_size=12))


password = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=127), min_size=14, max_size=20)
CHANGES = {
    "UserId": _variants(["app-user-2", "A-b", "a" * 40], ["", "a" * 41, "-a", "a b", "ü"]),
    "UserName": _variants(["app-user-1", "x" * 120], ["x" * 121, " ", "a\tb", 5]),
    "Engine": _variants(["Valkey", "REDIS"], ["memcached", "", ["redis"]]),
    "AccessString": _variants(["on ~* +@all", "off"], ["", " ", "+@reads", 1]),
    "Passwords": st.one_of(st.lists(password, min_size=0, max_size=3), st.sampled_from([None, "x", [1]])),
    "PasswordSecretId": st.sampled_from([None, None, "elasticache/app", " ", 3]),
    "NoPasswordRequired": st.sampled_from([None, "true", "false", True, False, " TRUE ", "yes"]),
    "AuthenticationMode": st.sampled_from(
        [None, {"Type": "iam"}, {"Type": "no-password-required"}, {"Type": "password"}, {"Type": "x"}, "iam"]
    ),
    "Tags": st.one_of(
        st.lists(
            st.fixed_dictionaries(
                {
                    "Key": st.sampled_from(["team", "AWS:x", "", "elasticache-user-resource:a"]),
                    "Value": st.text(max_size=3),
                }
            ),
            max_size=3,
        ),
        st.sampled_from([None, "team"]),
    ),
    "UserGroupIds": st.one_of(
        st.lists(st.sampled_from(["readers", "Readers", "writers", "9x"]), max_size=3), st.sampled_from([None, "r"])
    ),
    "AdoptExistingUser": st.sampled_from([None, "true", "False", False, "1"]),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({}, optional=CHANGES))
def test_whatever_the_provider_accepts_the_schema_accepts(change: dict[str, Any]) -> None:
    properties = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    if any(properties.get(name) for name in AUTHENTICATION_PROPERTIES[1:]) and "Passwords" not in change:
        properties.pop("Passwords")
    if handler_accepts(properties):
        assert VALIDATOR.is_valid(properties), sorted(e.message for e in VALIDATOR.iter_errors(properties))


def test_the_rollout_trade_off_rows_are_the_last_benchmark_runs() -> None:
    """docs/rollout.md's table of concurrency against throttles and wave time shows the rows of
    the last full run for what `make bench` measures (unreserved and 20)."""
    results = reference.RESULTS.read_text()
    stack = next(body for title, body in reference.results_sections(results) if title.startswith("Stack: 500"))
    measured = {}
    for line in stack.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) == 11 and cells[1] in ("Create", "Delete"):
            # calls, throttled, slowest answer (the wave's time), physical limit
            measured[(cells[0], cells[1])] = (cells[4], cells[5], cells[9], cells[10])
    rollout = (ROOT / "docs" / "rollout.md").read_text()
    shown = {}
    for line in rollout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in ("unreserved, paced", "20"):
            shown[(cells[0].split(",")[0], cells[1])] = tuple(cells[2:])
    assert len(measured) >= 4 and shown == {k: v for k, v in measured.items() if k[0] in ("unreserved", "20")}
