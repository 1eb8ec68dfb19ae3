"""Where the provider's one description lives, and the provider's own validation rules.

Both come from this repository, never from a copy kept beside the library: `template.yaml`
(what the provider construct deploys, through CfnInclude) and `src/handler` (the Lambda code
asset, and the pure modules whose rules check a user's properties at synth). A built wheel
carries both under `_bundled/` (cdk/pyproject.toml force-includes them at build time); a
checkout of the repository uses them in place.

The handler's packages are top-level packages (`from rules.properties import ...`), as the
Lambda runtime loads them. Names such as `rules` or `runtime` are common in applications too, so
they are loaded once into a private table and put into `sys.modules` only while a rule runs
(`handler_rules()`), then the application's own modules (if any) are put back.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

_PACKAGE = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE / "_bundled"
# The modules the synth-time checks use; what they import comes along.
RULE_MODULES = (
    "rules.properties",
    "rules.property_table",
    "rules.access_string",
    "runtime.scope",
    "elasticache.consent",
)


def root() -> Path:
    """The directory holding template.yaml and src/handler (or their bundled copies)."""
    return _BUNDLED if _BUNDLED.is_dir() else _PACKAGE.parent.parent


def template_path() -> Path:
    return root() / "template.yaml"


def handler_path() -> Path:
    bundled = _BUNDLED / "handler"
    return bundled if bundled.is_dir() else root() / "src" / "handler"


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form intrinsic functions (!Sub, !If, ...) as their long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


@cache
def template() -> dict[str, Any]:
    """template.yaml as a dictionary (long-form intrinsic functions)."""
    loaded: dict[str, Any] = yaml.load(template_path().read_text(), Loader=_CloudFormationLoader)  # noqa: S506
    return loaded


_loaded: dict[str, ModuleType] = {}


@contextmanager
def handler_rules() -> Iterator[dict[str, ModuleType]]:
    """The handler's modules by dotted name, importable by their own names while inside."""
    folder = handler_path()
    packages = tuple(path.parent.name for path in folder.glob("*/__init__.py"))

    def ours(name: str) -> bool:
        return name.partition(".")[0] in packages

    others = {name: sys.modules.pop(name) for name in [n for n in sys.modules if ours(n)]}
    sys.path.insert(0, str(folder))
    sys.modules.update(_loaded)
    try:
        if not _loaded:
            # properties.py imports access_string lazily (for a Delete's cold start): here, eagerly.
            for name in RULE_MODULES:
                importlib.import_module(name)
            _loaded.update({name: module for name, module in sys.modules.items() if ours(name)})
        yield dict(_loaded)
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if ours(n)]:
            del sys.modules[name]
        sys.modules.update(others)
