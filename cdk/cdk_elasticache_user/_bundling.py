"""The functions' code asset: src/handler's packages (the trimmed service models in
runtime/models/ among them) with its requirements installed and its bytecode, built locally when
this machine can (pip for the functions' platform), else in the SAM build image."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from cdk_elasticache_user._sources import handler_path

# Lambda's /var/task is read-only and pip here writes no bytecode, so without this each cold start
# compiles boto3, botocore and the handler from source: 558 ms instead of 210 ms (bench/coldstart.py).
# unchecked-hash: an asset's zip keeps no timestamp Python could check a .pyc against.
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")
BYTECODE = "python -m compileall -q -j 0 --invalidation-mode unchecked-hash"


@jsii.implements(ILocalBundling)
class PipBundling:
    """The code asset built here, without Docker: src/handler plus its requirements.txt,
    installed as wheels for the functions' architecture and the template's Python runtime, and
    compiled to bytecode when this interpreter is that runtime's (see BYTECODE)."""

    def __init__(self, source: Path, architecture: str, python_version: str) -> None:
        self.source, self.architecture, self.python_version = source, architecture, python_version

    def try_bundle(self, output_dir: str, *_options: Any, **_keywords: Any) -> bool:
        platform = "manylinux2014_aarch64" if self.architecture == "arm64" else "manylinux2014_x86_64"
        subprocess.run(  # noqa: S603 - this interpreter's pip, fixed arguments
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
                "--requirement", str(self.source / "requirements.txt"), "--target", output_dir,
                "--platform", platform, "--implementation", "cp", "--python-version", self.python_version,
                "--only-binary=:all:",
            ],
            check=True,
        )  # fmt: skip
        for package in self.source.glob("*/__init__.py"):
            shutil.copytree(package.parent, Path(output_dir) / package.parent.name, ignore=SKIP, dirs_exist_ok=True)
        if f"{sys.version_info.major}.{sys.version_info.minor}" == self.python_version:
            subprocess.run([sys.executable, *BYTECODE.split()[1:], output_dir], check=True)  # noqa: S603 - fixed
        return True


def code_asset(scope: Construct, architecture: str, runtime: str) -> s3_assets.Asset:
    """src/handler and its requirements, for the functions' architecture and runtime (e.g.
    python3.13), as one asset."""
    source = handler_path()
    image = DockerImage.from_registry(f"public.ecr.aws/sam/build-{runtime}")
    return s3_assets.Asset(
        scope,
        "Code",
        path=str(source),
        exclude=["__pycache__", "*.pyc"],
        asset_hash_type=AssetHashType.SOURCE,
        bundling=BundlingOptions(
            image=image,
            command=[
                "bash",
                "-c",
                "pip install --no-compile -r requirements.txt -t /asset-output"
                f" && cp -r */ /asset-output && {BYTECODE} /asset-output",
            ],
            local=PipBundling(source, architecture, runtime.removeprefix("python")),
        ),
    )
