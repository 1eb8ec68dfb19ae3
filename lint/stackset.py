"""`make stackset`: the provider as StackSets and Customizations for Control Tower can deploy it.

Service-managed StackSets run no macro with their default execution role, and the
`AWS::Serverless-2016-10-31` transform is one (CreateStackSet, CAPABILITY_AUTO_EXPAND, botocore 1.44:
"The default service-managed execution role can't provision them: if you reference a macro in your
template, the StackSet operation fails even when you specify this capability";
cloudformation-coverage-roadmap #839, serverless-application-model #500). So template.yaml is
expanded here, offline, by SAM's own translator (aws-sam-translator), as cfn-lint's SAM transform
called it: a managed-policy map given instead of asked of IAM (empty: the template names no
managed policy, and the translator fails on one it cannot resolve), AWS_DEFAULT_REGION set.

A function's `Code.S3Bucket` must be in the function's Region (another account may own it), so
the code lives in one bucket per Region, `<CodeBucketPrefix>-<region>` (a parameter), under
`CodeKey` (default: the zip's hash, so a new build never overwrites the one stacks run).
A stack set names each stack `StackSet-<stack set name>-<36-character id>`: with template.yaml's
`${AWS::StackName}-elasticache-user` no function name would fit Lambda's 64 characters,
so here the stack's name gives way to `FunctionNamePrefix` wherever a function is named.

The code zip is src/handler's packages and the functions' requirements as the tests ran them:
the installed distributions of this virtual environment (pinned by src/handler/requirements.txt,
all pure Python: checked), compiled to bytecode with the runtime's Python (cold starts 558 ms ->
210 ms, bench/coldstart.py). No package index, no Docker, no AWS: it runs offline on a clone.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from lint.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parent.parent
HANDLER = ROOT / "src" / "handler"
OUT = ROOT / "build" / "stackset"
SAM_FUNCTION = "AWS::Serverless::Function"
# The translator wants an S3 location for CodeUri; the real one replaces it afterwards.
PLACEHOLDER = "s3://code-bucket/code.zip"
TEMPLATE_BODY_MAX = 51_200  # CreateStackSet TemplateBody, bytes (botocore model); a larger one needs TemplateURL
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # no build time in the zip: the same code, the same hash
LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unpacks a function's zip
LAMBDA_NAME_MAX = 64  # FunctionName (Lambda API reference)
STACK_NAME = "${AWS::StackName}"
PARAMETERS: dict[str, dict[str, Any]] = {
    "CodeBucketPrefix": {
        "Type": "String",
        # A bucket name is 3 to 63 characters; the longest Region name adds 15 ("-ap-southeast-5").
        "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,46}$",
        "Description": "The functions' code is in the bucket <CodeBucketPrefix>-<Region> of every Region the "
        "stack set deploys to (readable by the organisation: docs/rollout.md).",
    },
    "CodeKey": {
        "Type": "String",
        "Description": "Key of the code zip (make stackset: build/stackset/code.zip) in each of those buckets.",
    },
    "FunctionNamePrefix": {
        "Type": "String",
        "Default": "elasticache-user-resource",
        "Description": "Stands for the stack's name in the functions' names (and their log groups, grants, alarms): "
        "a stack set names its stacks StackSet-<stack set name>-<36-character id>, too long for a function name.",
    },
}


def function_suffixes(template: Mapping[str, Any]) -> list[str]:
    """What follows the stack's name in each function's name (e.g. "-ecuser-drift")."""
    names = [r["Properties"]["FunctionName"] for r in template["Resources"].values() if r["Type"] == SAM_FUNCTION]
    suffixes = [str(name["Fn::Sub"]).removeprefix(STACK_NAME) for name in names]
    assert all(str(name["Fn::Sub"]).startswith(STACK_NAME) for name in names), names
    return sorted(suffixes, key=len, reverse=True)


def renamed(node: Any, suffixes: list[str]) -> Any:
    """`node` with "${AWS::StackName}<suffix>" as "${FunctionNamePrefix}<suffix>" in every Fn::Sub:
    a function's name, and whatever names it (its log group, the grants on it, alarms)."""
    if isinstance(node, list):
        return [renamed(item, suffixes) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
        text = node["Fn::Sub"]
        for suffix in suffixes:
            text = text.replace(STACK_NAME + suffix, "${FunctionNamePrefix}" + suffix)
        return {"Fn::Sub": text}
    return {key: renamed(value, suffixes) for key, value in node.items()}


def sam_expansion(template: Mapping[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """template.yaml as the AWS::Serverless transform expands it, every CodeUri at PLACEHOLDER."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(dict(template))
    for resource in sam["Resources"].values():
        if resource["Type"] == SAM_FUNCTION:
            resource["Properties"]["CodeUri"] = PLACEHOLDER
    before = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region  # the translator's ARN partition comes from it
    try:
        translator = Translator(managed_policy_map={}, sam_parser=Parser())
        expanded: dict[str, Any] = translator.translate(sam, parameter_values={}, get_managed_policy_map=dict)
    finally:
        if before is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = before
    return expanded


def stackset_template(template: Mapping[str, Any], code_key: str) -> dict[str, Any]:
    """The expansion with its code in the Region's bucket and without the SAR listing."""
    suffixes = function_suffixes(template)
    expanded = sam_expansion(template)
    expanded.get("Metadata", {}).pop("AWS::ServerlessRepo::Application", None)
    if not expanded.get("Metadata"):
        expanded.pop("Metadata", None)
    expanded["Resources"], expanded["Outputs"] = (
        renamed(expanded["Resources"], suffixes),
        renamed(expanded["Outputs"], suffixes),
    )
    parameters = copy.deepcopy(PARAMETERS)
    parameters["CodeKey"]["Default"] = code_key
    parameters["FunctionNamePrefix"]["MaxLength"] = LAMBDA_NAME_MAX - len(suffixes[0])
    parameters["FunctionNamePrefix"]["AllowedPattern"] = "^[a-zA-Z0-9_-]+$"
    expanded["Parameters"] = {**parameters, **expanded.get("Parameters", {})}
    for resource in expanded["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            resource["Properties"]["Code"] = {
                "S3Bucket": {"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"},
                "S3Key": {"Ref": "CodeKey"},
            }
    serverless = sorted(k for k, r in expanded["Resources"].items() if r["Type"].startswith("AWS::Serverless::"))
    assert not serverless and "Transform" not in expanded, f"not expanded: {serverless}"
    return expanded


def runtime_version(template: Mapping[str, Any]) -> str:
    """The functions' Python (e.g. "3.13"): one for all four, as they share one CodeUri."""
    runtimes = {r["Properties"]["Runtime"] for r in template["Resources"].values() if r["Type"] == SAM_FUNCTION}
    [runtime] = runtimes
    return str(runtime).removeprefix("python")


def distributions(requirements: Path, python: str) -> list[importlib.metadata.Distribution]:
    """The installed distributions the requirements need on Lambda (Linux, CPython `python`)."""
    environment = {"extra": "", "python_version": python, "python_full_version": f"{python}.0"}
    environment |= {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}
    environment |= {"platform_python_implementation": "CPython", "implementation_name": "cpython"}
    wanted = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()]
    pending, found = [Requirement(line) for line in wanted if line], {}
    while pending:
        requirement = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        name = requirement.name.lower().replace("_", "-")
        if name in found:
            continue
        distribution = importlib.metadata.distribution(requirement.name)
        if "Root-Is-Purelib: true" not in (distribution.read_text("WHEEL") or ""):
            raise SystemExit(f"{requirement.name} is not pure Python: build the code with `make build` (sam build)")
        found[name] = distribution
        pending += [Requirement(text) for text in distribution.requires or []]
    return [found[name] for name in sorted(found)]


def code_files(template: Mapping[str, Any]) -> Iterator[tuple[str, Path]]:
    """(path in the zip, file here) of everything the functions run: src/handler's packages and
    the requirements' installed files; no bytecode of this machine's (it is compiled apart)."""
    for package in sorted(HANDLER.glob("*/__init__.py")):
        for path in sorted(package.parent.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                yield path.relative_to(HANDLER).as_posix(), path
    for distribution in distributions(HANDLER / "requirements.txt", runtime_version(template)):
        for file in distribution.files or []:
            name = file.as_posix()
            if not name.startswith("..") and "__pycache__" not in name and not name.endswith(".pyc"):
                yield name, Path(str(distribution.locate_file(file)))


def stage(template: Mapping[str, Any], staging: Path, bytecode: bool = True) -> None:
    """The code as the functions run it, in `staging` (emptied first)."""
    shutil.rmtree(staging, ignore_errors=True)
    for name, source in code_files(template):
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    if not bytecode:
        return
    if f"{sys.version_info.major}.{sys.version_info.minor}" != runtime_version(template):
        print(f"no python{runtime_version(template)} here: the code goes without bytecode (cold starts 2.7x as long)")
        return
    # unchecked-hash: a zip keeps no timestamp Python could check a .pyc against. A process of its
    # own, as the Makefile's BYTECODE: compileall's workers would re-run the caller's __main__.
    # Each code object records its file: /var/task/... as on Lambda, not this build's directory (a
    # traceback then names the deployed file, and the zip's hash does not depend on where it was built).
    compiling = [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    compiling += ["-s", str(staging), "-p", LAMBDA_TASK_ROOT]
    subprocess.run([*compiling, str(staging)], check=True)  # noqa: S603 - this interpreter, fixed arguments


def write_zip(staging: Path, target: Path) -> str:
    """`staging` as a zip with fixed times and modes; its SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            entry = zipfile.ZipInfo(path.relative_to(staging).as_posix(), ZIP_TIME)
            entry.external_attr, entry.compress_type = 0o644 << 16, zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())
    return hashlib.sha256(target.read_bytes()).hexdigest()


def build(out: Path, bytecode: bool = True) -> tuple[Path, Path, str]:
    """code.zip and template.json in `out`; returns them and the code's key."""
    template = load_template(ROOT / "template.yaml")
    staging = out / "code"
    stage(template, staging, bytecode)
    digest = write_zip(staging, out / "code.zip")
    shutil.rmtree(staging)
    version = template["Metadata"]["AWS::ServerlessRepo::Application"]["SemanticVersion"]
    key = f"elasticache-user-resource/{version}/{digest[:16]}.zip"
    # Compact: 34,000 bytes instead of 47,000 indented, under TEMPLATE_BODY_MAX.
    (out / "template.json").write_text(json.dumps(stackset_template(template, key), separators=(",", ":")) + "\n")
    return out / "template.json", out / "code.zip", key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    arguments = parser.parse_args(argv)
    template, code, key = build(arguments.out)
    template, code = (path.relative_to(ROOT) if path.is_relative_to(ROOT) else path for path in (template, code))
    size = template.stat().st_size
    body = "--template-body" if size <= TEMPLATE_BODY_MAX else "--template-url (over --template-body's 51,200)"
    print(f"{template}: no transform, {size:,} bytes ({body})")
    print(f"{code.name}: {code.stat().st_size / 1e6:.1f} MB, key {key} (the CodeKey default)")
    print("copy it to the bucket of every Region the stack set deploys to (docs/rollout.md):")
    print(f"  aws s3 cp {code} s3://<CodeBucketPrefix>-<region>/{key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
