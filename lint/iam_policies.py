"""`python -m lint.iam_policies [template.yaml] [--synthesized cdk/cdk.out/*.template.json]`:
parliament over every IAM policy in the template, resolved for each setting of its conditions;
fails on any finding not accepted in `iam-accepted.json` (where each accepted finding carries
its reason). Every condition of the template and of the synthesized templates must also be one
the project's evaluator (local/iam_policy.py) reads: a known operator, and a set operator on a
multivalued key (a plain one is never matched by AWS's rules: "Multivalued context keys require
a condition set operator"). That check is never accepted away."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lint.cfn_yaml import load_template, resolve
from local.iam_policy import Condition, PolicyError

ACCEPTED = Path(__file__).with_name("iam-accepted.json")
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "user-provider",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/user-provider/1",
    "AWS::URLSuffix": "amazonaws.com",
}
# Parameter values the policies are linted with, besides each parameter's default.
SAMPLES: dict[str, list[Any]] = {
    "UserIdPrefix": ["app-"],
    "KmsKeyArns": [["arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]],
}


def _patch_parliament() -> None:
    """parliament 1.6.4 knows no 'ArrayOfARN' (events:TargetArn) and raises: an array of
    a type is checked as that type."""
    import parliament.statement as statement

    original = statement.translate_documentation_types

    def translate(name: str) -> str:
        return str(original(name.removeprefix("ArrayOf") if name != "ArrayOfString" else name))

    statement.translate_documentation_types = translate


def settings(template: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, bool]]]:
    """Every combination of default and sample parameter values, with the conditions they give."""
    parameters = template.get("Parameters", {})
    choices = {name: [p.get("Default", ""), *SAMPLES.get(name, [])] for name, p in parameters.items()}
    for combination in itertools.product(*choices.values()):
        values = {**PSEUDO, **dict(zip(choices, combination, strict=True))}
        values = {
            k: ([] if v == "" and parameters.get(k, {}).get("Type") == "CommaDelimitedList" else v)
            for k, v in values.items()
        }
        yield (
            values,
            {
                "WithExampleUser": values.get("CreateExampleUser") == "true",
                "WithKmsKeys": bool(values.get("KmsKeyArns")),
            },
        )


def findings(template_path: Path) -> set[tuple[str, str, str, str]]:
    """(role, policy, where, issue) for every parliament finding in any setting; `where` is the
    text parliament points at (an action, a resource, a condition key)."""
    _patch_parliament()
    from parliament import analyze_policy_string

    template = load_template(template_path)
    found: set[tuple[str, str, str, str]] = set()
    for values, conditions in settings(template):
        for role, resource in template["Resources"].items():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            for policy in resource["Properties"].get("Policies", []):
                document = resolve(policy["PolicyDocument"], values, conditions)
                for finding in analyze_policy_string(json.dumps(document)).findings:
                    location = finding.location if isinstance(finding.location, dict) else {}
                    where = str(location.get("string") or finding.detail)
                    found.add((role, policy["PolicyName"], where, finding.issue))
    return found


def _statements(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every policy statement anywhere in a template (both branches of an Fn::If included)."""
    if isinstance(node, Mapping):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for item in node:
            yield from _statements(item)


def refused_conditions(template: Mapping[str, Any]) -> list[str]:
    """Each condition (operator, key) of the template's policies the evaluator refuses, with why."""
    found = []
    for logical_id, resource in template.get("Resources", {}).items():
        for statement in _statements(resource.get("Properties", {})):
            condition = statement.get("Condition")
            for operator, keys in condition.items() if isinstance(condition, Mapping) else []:
                for key in keys if isinstance(keys, Mapping) else []:
                    try:
                        Condition(operator, key, ())
                    except PolicyError as error:
                        found.append(f"{logical_id} / {statement.get('Sid', '(no Sid)')}: {error}")
    return found


def _load(path: Path) -> dict[str, Any]:
    if path.suffix == ".json":
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded
    return load_template(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("template", nargs="?", default="template.yaml")
    parser.add_argument("--synthesized", nargs="*", type=Path, default=[], help="templates checked for conditions only")
    args = parser.parse_args(argv)
    refused = [
        f"{path}: {problem}"
        for path in [Path(args.template), *args.synthesized]
        for problem in refused_conditions(_load(path))
    ]
    for problem in refused:
        print(f"CONDITION: {problem}", file=sys.stderr)
    accepted = {(a["role"], a["policy"], a["where"], a["issue"]): a["reason"] for a in json.loads(ACCEPTED.read_text())}
    found = findings(Path(args.template))
    for key in sorted(found & accepted.keys()):
        print(f"accepted: {' / '.join(key)}: {accepted[key]}")
    new = sorted(found - accepted.keys())
    for key in new:
        print(f"FINDING: {' / '.join(key)}", file=sys.stderr)
    print(f"iam policies: {len(found)} finding(s), {len(new)} not accepted; {len(refused)} condition(s) refused")
    return 1 if new or refused else 0


if __name__ == "__main__":
    sys.exit(main())
