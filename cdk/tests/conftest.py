"""Fixtures for the construct library's tests: stacks synthesized with the CDK (no AWS account,
no Docker: bundling skipped), and the main suite's stand-ins (tests/conftest.py) for running a
synthesized user through the local provider."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

# jsii prints a banner on every start under Node 20 (deprecated, then end of life since
# 2026-10-30): the machines run Node 20.
os.environ["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"] = "1"
os.environ["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

pytest_plugins = ["tests.conftest"]

ROOT = Path(__file__).resolve().parent.parent.parent
Synth = Callable[[cdk.Stack], Template]


def new_stack(name: str = "Application") -> cdk.Stack:
    """An environment-agnostic stack in an app that skips asset bundling (no pip, no Docker)."""
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    return cdk.Stack(app, name)


@pytest.fixture
def stack() -> cdk.Stack:
    return new_stack()


@pytest.fixture
def synth() -> Synth:
    return Template.from_stack
