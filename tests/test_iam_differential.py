"""Two IAM evaluators on the same cases (local/iam_differential.py): ours and the npm package
@cloud-copilot/iam-simulate. Every request the last whole run of the suite recorded (the IAM
gate's record, .iam-record/: `make test` runs this file after the rest, so it is this run's),
every call shape local/iam_requests.py builds against each role's resolved policy, and random
policies and requests from a fixed seed, all in one Node process. A disagreement fails unless
its class is listed in local/iam-disagreements.json with the IAM User Guide's rule."""

from __future__ import annotations

import json
import os

import pytest

from local import iam_cases, iam_differential, iam_gate
from local.iam_policy import PolicyError, compile_policy
from tests.conftest import IAM_RECORD, PROVIDER

SEED = 33
GENERATED = 3000
FIGURES = IAM_RECORD / "differential.json"
POLL_RULE = "arn:aws:events:us-east-1:123456789012:rule/ecuser-poll-abc"


def test_the_two_evaluators_disagree_only_where_the_guide_settles_it() -> None:
    recorded = iam_cases.recorded(IAM_RECORD)
    if os.environ.get("IAM_RECORD_REQUIRED"):  # make test: the run before this one recorded its requests
        assert recorded, f"no request in {IAM_RECORD}: the suite's record is missing"
    cases = recorded + iam_cases.shapes(PROVIDER) + iam_cases.generated(SEED, GENERATED)
    report = iam_differential.judge(cases)
    FIGURES.parent.mkdir(exist_ok=True)
    FIGURES.write_text(json.dumps(report.figures(), indent=2) + "\n")  # docs/permissions.md quotes them

    assert not any(their.startswith("error") for _, their in report.verdicts), "iam-simulate failed on a case"
    unlisted = report.unlisted(iam_differential.listed())
    shown = [f"{d.kind or 'no class'}: ours {d.ours}, theirs {d.theirs}: {json.dumps(d.case)}" for d in unlisted[:5]]
    assert not unlisted, f"{len(unlisted)} disagreement(s) no listed class explains:\n" + "\n".join(shown)

    # The hand-over's PutTargets, as the provider's role allows it: both evaluators allow the
    # function alone and refuse it beside a foreign target, or a foreign target alone.
    verdicts = {
        (len(case["context"]["events:TargetArn"]), case["context"]["events:TargetArn"][-1]): verdict
        for case, verdict in zip(cases, report.verdicts, strict=True)
        if case["origin"] == "shape:ElastiCacheUserRole"
        and case["action"] == "events:PutTargets"
        and case["resource"] == POLL_RULE
        and case["context"]["events:TargetArn"]
    }
    own, foreign = iam_gate.function_arn("provider"), iam_cases.FOREIGN_TARGET
    assert verdicts[(1, own)] == ("Allow", "Allow")
    assert verdicts[(2, foreign)] == ("ImplicitDeny", "ImplicitDeny")
    assert verdicts[(1, foreign)] == ("ImplicitDeny", "ImplicitDeny")


def test_every_listed_class_carries_the_rule_that_settles_it() -> None:
    listed = iam_differential.listed()
    for name, entry in listed.items():
        assert {"ours", "theirs", "follows", "page", "rule"} <= entry.keys(), name
        assert entry["follows"] in ("ours", "theirs") and entry["page"].startswith("IAM User Guide"), name
    # Every class the differential can name is listed (and nothing else is).
    assert set(listed) == set(iam_differential.CLASSES) | set(iam_differential.REFUSALS.values())


def test_a_disagreement_no_listed_reading_explains_is_unlisted() -> None:
    """The check above can fail: a verdict neither evaluator's reading of a listed rule gives."""
    case = iam_cases.generated(SEED, 1)[0] | {
        "statements": [{"Effect": "Allow", "Action": "events:PutTargets", "Resource": POLL_RULE}],
        "action": "events:PutTargets",
        "resource": POLL_RULE,
        "context": {},
    }
    assert iam_differential.ours(case) == "Allow"
    assert iam_differential.classify(case, "Allow", "ImplicitDeny") is None
    # The template's old PollTargetIsThisFunction: refused by ours, classed when the other allows.
    old = {"ArnEquals": {"events:TargetArn": iam_gate.function_arn("provider")}}
    plain = case | {"statements": [{**case["statements"][0], "Condition": old}]}
    with pytest.raises(PolicyError):
        compile_policy(plain["statements"])
    assert iam_differential.classify(plain, "Refused", "Allow") == "refused-plain-operator-on-a-multivalued-key"
