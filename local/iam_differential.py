"""Two IAM evaluators on the same cases: ours (local/iam_policy.py) and the npm package
`@cloud-copilot/iam-simulate` (local/iam-simulate/, its version pinned by the lockfile beside
it, installed by `make`), asked once for every case through `judge.mjs` (one Node process).

A case on which they disagree is a finding unless its class is listed in
`local/iam-disagreements.json` with the IAM User Guide's rule that settles it (a quote and the
page's name) and the side that follows it. `python -m local.iam_differential` prints the
figures; tests/test_iam_differential.py fails on an unlisted disagreement.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.iam_cases import Case
from local.iam_patterns import matches, substituted
from local.iam_policy import Condition, PolicyError, compile_policy, evaluate

ROOT = Path(__file__).resolve().parent.parent
SIMULATOR = ROOT / "local" / "iam-simulate"
LISTED = ROOT / "local" / "iam-disagreements.json"
# Ours refuses a policy it cannot read as AWS would: no request goes through on it.
REFUSED = "Refused"


def _start(cases: Sequence[Case]) -> subprocess.Popen[str]:
    payload = json.dumps({"cases": [{k: c[k] for k in ("statements", "action", "resource", "context")} for c in cases]})
    with tempfile.TemporaryFile("w+") as cases_file:  # a file: Node reads it while Python judges
        cases_file.write(payload)
        cases_file.seek(0)
        return subprocess.Popen(
            ["node", "judge.mjs"],  # noqa: S607 - the node the CDK library needs too
            cwd=SIMULATOR,
            stdin=cases_file,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def _finish(node: subprocess.Popen[str]) -> str:
    out, err = node.communicate(timeout=120)
    if node.returncode != 0:
        raise RuntimeError(f"local/iam-simulate/judge.mjs failed ({node.returncode}): {err.strip()[-2000:]}")
    return out


def theirs(cases: Sequence[Case]) -> list[str]:
    """iam-simulate's verdicts ("Allow", "Deny", "ImplicitDeny", "error: ..."), one Node process."""
    verdicts: list[str] = json.loads(_finish(_start(cases)))
    return verdicts


def ours(case: Case) -> str:
    try:
        statements = compile_policy(case["statements"])
    except PolicyError:
        return REFUSED
    return evaluate(statements, case["action"], case["resource"], case["context"]).effect


# Why ours refuses a policy (a phrase of the PolicyError) -> the class of a refusal the other
# evaluator answers Allow to.
REFUSALS = {
    "a multivalued key": "refused-plain-operator-on-a-multivalued-key",
    "service prefix": "refused-wildcard-in-an-action-prefix",
    "six colon-separated parts": "refused-resource-of-fewer-than-six-parts",
    "ARNs of six parts": "refused-arn-condition-value-of-fewer-than-six-parts",
    "policy variable": "refused-policy-variable",
    "not all numbers": "refused-numeric-value-that-is-no-number",
}


def refusal(case: Case) -> str | None:
    try:
        compile_policy(case["statements"])
    except PolicyError as error:
        return next((kind for phrase, kind in REFUSALS.items() if phrase in str(error)), None)
    return None


def agree(our: str, their: str) -> bool:
    return our == their or (our == REFUSED and their in ("Deny", "ImplicitDeny"))


# Classes of disagreement ------------------------------------------------------------------------
#
# A class is a rule the two evaluators read differently, given here as the other evaluator's
# reading of it. A disagreement belongs to the first class whose reading, put in place of ours
# for that one rule, gives the other evaluator's verdict: the class explains it, not merely
# appears in it.


@dataclass(frozen=True)
class Reading:
    """How `_verdict` departs from local/iam_policy.py for one class (all False: ours)."""

    request_wildcard: bool = False  # a `*` in the request's resource overlaps a policy's pattern
    across_colons: bool = False  # a `*` inside a segment of the resource part reaches past a colon
    no_type_wildcard: bool = False  # a wildcard in the resource type matches nothing
    null_empty_present: bool = False  # Null takes a key holding an empty list as present
    unresolved_fails: bool = False  # a variable with no value fails a negated operator and a NotResource


def _resource_matches(pattern: str, resource: str, context: Mapping[str, Any], reading: Reading) -> bool:
    parts = pattern.split(":", 5)
    if reading.request_wildcard and "*" in resource:
        literal = re.escape(resource).replace(r"\*", ".*")
        if re.fullmatch(literal, pattern.replace("*", "").replace("?", "x")):
            return True
    if reading.no_type_wildcard and len(parts) == 6 and re.search(r"[*?]", re.split(r"[:/]", parts[5])[0]):
        return False
    if reading.across_colons and len(parts) == 6 and resource.count(":") >= 5:
        head, tail = ":".join(parts[:5]), resource.split(":", 5)
        return matches(head, ":".join(tail[:5]), context=context, segments=True) and matches(
            parts[5], tail[5], context=context
        )
    return matches(pattern, resource, context=context, segments=True)


def _unresolved(text: str, context: Mapping[str, Any]) -> bool:
    return substituted(text, context, specials=False) is None


def _holds(condition: Condition, context: Mapping[str, Any], reading: Reading) -> bool:
    if reading.null_empty_present and condition.operator == "Null" and context.get(condition.key.lower()) == []:
        return any(value.lower() == "false" for value in condition.values)
    if (
        reading.unresolved_fails
        and "Not" in condition.operator
        and any(_unresolved(v, context) for v in condition.values)
    ):
        return False
    return condition.holds(context)


def _verdict(case: Case, reading: Reading) -> str:
    try:
        statements = compile_policy(case["statements"])
    except PolicyError:
        return REFUSED
    context = {key.lower(): value for key, value in case["context"].items()}
    allowed = False
    for statement in statements:
        if any(matches(a, case["action"], ignore_case=True) for a in statement.actions) == statement.not_action:
            continue
        hit = any(_resource_matches(r, case["resource"], context, reading) for r in statement.resources)
        if (
            reading.unresolved_fails
            and statement.not_resource
            and any(_unresolved(r, context) for r in statement.resources)
        ):
            continue
        if hit == statement.not_resource or not all(_holds(c, context, reading) for c in statement.conditions):
            continue
        if statement.effect == "Deny":
            return "Deny"
        allowed = True
    return "Allow" if allowed else "ImplicitDeny"


CLASSES: dict[str, Reading] = {
    "wildcard-in-the-request-resource": Reading(request_wildcard=True),
    "wildcard-inside-a-segment-across-a-colon": Reading(across_colons=True),
    "wildcard-in-the-resource-type": Reading(no_type_wildcard=True),
    "null-on-an-empty-list": Reading(null_empty_present=True),
    "variable-with-no-value-in-a-negation": Reading(unresolved_fails=True),
}


def classify(case: Case, our: str, their: str) -> str | None:
    if our == REFUSED:
        return refusal(case)
    return next((name for name, reading in CLASSES.items() if agree(_verdict(case, reading), their)), None)


@dataclass(frozen=True)
class Disagreement:
    case: Case
    ours: str
    theirs: str
    kind: str | None  # its class (None: no listed reading explains it)


@dataclass(frozen=True)
class Report:
    cases: Counter[str]  # origin kind (recorded, shape, generated) -> cases
    verdicts: list[tuple[str, str]]  # (ours, theirs), one per case, in order
    disagreements: list[Disagreement]

    @property
    def refused(self) -> int:
        return sum(our == REFUSED for our, _ in self.verdicts)

    def by_class(self) -> Counter[str]:
        return Counter(d.kind or "unexplained" for d in self.disagreements)

    def unlisted(self, listed: Mapping[str, Any]) -> list[Disagreement]:
        return [d for d in self.disagreements if d.kind not in listed]

    def figures(self) -> dict[str, Any]:
        return {
            "simulator": simulator_version(),
            "cases": dict(sorted(self.cases.items())),
            "total": sum(self.cases.values()),
            "refused_by_ours": self.refused,
            "disagreements": len(self.disagreements),
            "by_class": dict(sorted(self.by_class().items())),
        }


def judge(cases: Sequence[Case]) -> Report:
    """Both evaluators on every case: the Node process works while ours does."""
    node = _start(cases)
    mine = [ours(case) for case in cases]
    verdicts: list[str] = json.loads(_finish(node))
    disagreements = [
        Disagreement(case, our, their, classify(case, our, their))
        for case, our, their in zip(cases, mine, verdicts, strict=True)
        if not agree(our, their)
    ]
    return Report(
        Counter(c["origin"].split(":")[0] for c in cases), list(zip(mine, verdicts, strict=True)), disagreements
    )


def listed() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(LISTED.read_text())
    return loaded


def simulator_version() -> str:
    lock = json.loads((SIMULATOR / "package-lock.json").read_text())
    return str(lock["packages"]["node_modules/@cloud-copilot/iam-simulate"]["version"])
