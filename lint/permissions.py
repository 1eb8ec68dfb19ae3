"""`python -m lint.permissions [--check]`: docs/permissions.md, one table of every AWS action each
function calls, the statement (Sid) of its role that allows it and the condition that confines
it, generated from the IAM gate's record of the last whole test run (`.iam-record/`, written by
tests/conftest.py; local/iam_gate.py); then the figures of the differential test's last run
(two evaluators, `.iam-record/differential.json`, tests/test_iam_differential.py) with every
listed class of disagreement and the IAM User Guide rule that settles it
(local/iam-disagreements.json).

--check (make lint) fails when the document is not what the record gives (a call the document
does not list), when a statement of a role is used by no call (a permission to drop), or when
a function met a refusal for an action no statement allows it (a call with no statement,
unless the suite asks for that refusal on purpose: EXPECTED_REFUSALS). Without a record (a
clean clone before `make test`) it checks what it can: the document names only statements
the template has, and every statement of the template.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from lint.cfn_yaml import load_template
from local.iam_differential import listed, simulator_version
from local.iam_gate import ROLES

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "permissions.md"
RECORD = ROOT / ".iam-record"
FIGURES = "differential.json"
# Statements Lambda itself uses with the function's role, which no test can see: the runtime
# writes the logs; the OnFailure destination is invoked with the provider's role.
PLATFORM = {
    ("provider", "WriteOwnLogs"): "Lambda writes the function's logs",
    ("notifier", "WriteOwnLogs"): "Lambda writes the function's logs",
    ("rotation", "WriteOwnLogs"): "Lambda writes the function's logs",
    ("drift", "WriteOwnLogs"): "Lambda writes the function's logs",
    ("provider", "NotifyFailures"): "Lambda delivers a failed invocation to the notifier",
}
# Refusals tests ask for on purpose (function, action): never a call the code relies on.
EXPECTED_REFUSALS = {
    ("notifier", "elasticache:DeleteUser"): "tests/test_permissions.py: the notifier may not change users",
    ("rotation", "elasticache:AddTagsToResource"): "tests/test_permissions.py: the rotation function may not tag",
    # tests/test_holds.py: no role may write or remove an operator's hold (NeverTouchHolds).
    ("notifier", "elasticache:AddTagsToResource"): "tests/test_holds.py: no role touches a hold",
    ("notifier", "elasticache:RemoveTagsFromResource"): "tests/test_holds.py: no role touches a hold",
    ("rotation", "elasticache:RemoveTagsFromResource"): "tests/test_holds.py: no role touches a hold",
}
ARN_HEAD = "arn:${AWS::Partition}:"
# (function, action, Sid) -> calls, and the refused (function, action) pairs of one run.
Record = tuple[dict[tuple[str, str, str], int], set[tuple[str, str]]]


def _text(node: Any) -> str:
    """A template value as the reader of the template sees it."""
    if isinstance(node, dict) and len(node) == 1:
        [(name, argument)] = node.items()
        if name == "Ref":
            return "${" + str(argument) + "}"
        if name == "Fn::Sub":
            return str(argument if isinstance(argument, str) else argument[0])
    if isinstance(node, list):
        return " or ".join(_text(n) for n in node)
    return str(node)


def _resource(node: Any) -> str:
    text = _text(node)
    if text.startswith(ARN_HEAD):
        service, rest = text[len(ARN_HEAD) :].split(":", 1)
        text = service + ":" + rest.replace("${AWS::Region}:${AWS::AccountId}:", "", 1)
    return text


def _condition(statement: dict[str, Any]) -> str:
    parts = [
        f"{operator} `{key}` = `{_text(value)}`"
        for operator, keys in (statement.get("Condition") or {}).items()
        for key, value in keys.items()
    ]
    return "; ".join(parts) or "none"


def statements(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(function, Sid) -> the statement as written (an Fn::If's statement taken from its
    first branch: KmsKeyArns set)."""
    found = {}
    for function, role in ROLES.items():
        for policy in template["Resources"][role]["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                if "Fn::If" in statement:
                    statement = statement["Fn::If"][1]
                found[(function, statement["Sid"])] = statement
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return list(action) if isinstance(action, list) else [action]


def read_record(folder: Path) -> Record | None:
    """The last whole run's (function, action, Sid) counts and refused (function, action)
    pairs; None when there is no record."""
    files = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    if not files:
        return None
    run = files[-1].name.split("-")[0]
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    refused = set()
    for path in (p for p in files if p.name.split("-")[0] == run):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if "function" in entry:
                key = (entry["function"], entry["action"], entry["sid"])
                counts[key] += entry["count"]
    for (function, action, sid), _ in list(counts.items()):
        if sid == "REFUSED":
            del counts[(function, action, sid)]
            refused.add((function, action))
    return dict(counts), refused


def read_figures(folder: Path) -> dict[str, Any] | None:
    path = folder / FIGURES
    return json.loads(path.read_text()) if path.exists() else None


def _evaluators(figures: dict[str, Any]) -> list[str]:
    cases = figures["cases"]
    rows = [
        "",
        "## Judged by two evaluators",
        "",
        "tests/test_iam_differential.py (`make test`, after the rest of the suite) judges every",
        "request the suite recorded, every call shape local/iam_requests.py builds against each",
        "role's resolved policy, and random policies and requests from a fixed seed, with our",
        f"evaluator (local/iam_policy.py) and with `@cloud-copilot/iam-simulate` {simulator_version()}",
        "(local/iam-simulate/, pinned by its lockfile). Its last run: "
        f"{figures['total']:,} cases ({cases.get('recorded', 0):,} recorded, {cases.get('shape', 0):,} call shapes, "
        f"{cases.get('generated', 0):,} generated); ours refused {figures['refused_by_ours']:,} of the generated "
        f"policies as unreadable; {figures['disagreements']:,} disagreements, each in a class below, which the",
        "IAM User Guide settles (a class not listed in local/iam-disagreements.json fails the test).",
        "",
        "| Class | Cases | Ours | iam-simulate | Follows the Guide | The Guide's rule |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in listed().items():
        count = figures["by_class"].get(name, 0)
        rule = f'"{entry["rule"]}" ({entry["page"]})'
        rows.append(f"| {name} | {count} | {entry['ours']} | {entry['theirs']} | {entry['follows']} | {rule} |")
    return rows


def render(
    template: dict[str, Any], counts: dict[tuple[str, str, str], int], figures: dict[str, Any] | None = None
) -> str:
    by_sid = statements(template)
    rows = [
        "# Permissions: each call, the statement that allows it",
        "",
        "Generated by `python -m lint.permissions` from the IAM gate's record of a whole test run",
        "(`make test`; every request of every test is judged by the calling function's role policy",
        "from template.yaml, see local/iam_gate.py); `make lint` checks it. Resources and",
        "conditions as template.yaml writes them (KMS statements exist only with KmsKeyArns set).",
        "",
        "| Function | Action | Statement (Sid) | Resource | Condition | Called by |",
        "|---|---|---|---|---|---|",
    ]
    callers = {(function, action, sid): "the function's code" for function, action, sid in counts}
    for (function, sid), platform in PLATFORM.items():
        for action in _actions(by_sid[(function, sid)]):
            callers.setdefault((function, action, sid), platform)
    order = list(ROLES)
    for function, action, sid in sorted(callers, key=lambda k: (order.index(k[0]), k[1], k[2])):
        statement = by_sid[(function, sid)]
        where, condition = _resource(statement["Resource"]), _condition(statement)
        rows.append(
            f"| {function} | `{action}` | {sid} | `{where}` | {condition} | {callers[(function, action, sid)]} |"
        )
    rows += [
        "",
        "Explicit denies: no call is allowed by them; they refuse what the statements above would allow.",
        "",
        "| Function | Action | Statement (Sid) | Resource | Condition |",
        "|---|---|---|---|---|",
    ]
    for (function, sid), statement in sorted(by_sid.items(), key=lambda k: (order.index(k[0][0]), k[0][1])):
        if statement["Effect"] == "Deny":
            where, condition = _resource(statement["Resource"]), _condition(statement)
            rows += [f"| {function} | `{a}` | {sid} | `{where}` | {condition} |" for a in _actions(statement)]
    if figures is not None:
        rows.extend(_evaluators(figures))
    return "\n".join(rows) + "\n"


NO_FIGURES: dict[str, Any] = {"cases": {}, "total": 0, "refused_by_ours": 0, "disagreements": 0, "by_class": {}}


def _figureless(document: str) -> str:
    """The document less the differential test's counts (the sentence and the Cases column)."""
    text = re.sub(r"Its last run: .*? disagreements", "Its last run: (figures)", document, flags=re.DOTALL)
    return re.sub(r"^(\| [a-z-]+ \| )\d+ \|", r"\1(count) |", text, flags=re.MULTILINE)


def problems(template: dict[str, Any], record: Record | None) -> list[str]:
    by_sid = statements(template)
    document = DOCUMENT.read_text() if DOCUMENT.exists() else ""
    found = []
    if record is None:
        for function, sid in by_sid:
            if f"| {function} |" not in document or f"| {sid} |" not in document:
                found.append(f"{function}'s statement {sid} is not in {DOCUMENT.name}: run make test, then this")
        return found
    counts, refused = record
    used = {(function, sid, action) for function, action, sid in counts}
    for (function, sid), statement in by_sid.items():
        if statement["Effect"] == "Deny":
            continue  # used only by refusing (listed apart in the document)
        for action in _actions(statement):
            if (function, sid, action) not in used and (function, sid) not in PLATFORM:
                found.append(f"{function}'s statement {sid} allows {action}, which no call of the suite used")
    allowed = {(function, action) for function, action, _ in counts}
    for function, action in sorted(refused - allowed - EXPECTED_REFUSALS.keys()):
        found.append(f"{function} called {action}, which no statement of its role allows")
    # The differential test's counts move from run to run (the suite's property-based tests send
    # random requests): the document must quote a run's figures, any run's.
    if _figureless(document) != _figureless(render(template, counts, NO_FIGURES)):
        found.append(f"{DOCUMENT.relative_to(ROOT)} is not what the record gives: run python -m lint.permissions")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail instead of writing the document")
    parser.add_argument("--record", type=Path, default=RECORD)
    args = parser.parse_args(argv)
    template = load_template(ROOT / "template.yaml")
    record = read_record(args.record)
    if not args.check:
        if record is None:
            print(f"no record in {args.record}: run the whole suite (make test) first", file=sys.stderr)
            return 1
        figures = read_figures(args.record)
        if figures is None:
            print(f"no {FIGURES} in {args.record}: run the whole suite (make test) first", file=sys.stderr)
            return 1
        DOCUMENT.write_text(render(template, record[0], figures))
        print(f"wrote {DOCUMENT.relative_to(ROOT)}")
        return 0
    if record is None:
        print(f"permissions: no record in {args.record} (make test writes it); checking the document alone")
    found = problems(template, record)
    for problem in found:
        print(f"PERMISSIONS: {problem}", file=sys.stderr)
    print(f"permissions: {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
