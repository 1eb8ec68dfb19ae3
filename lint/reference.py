"""The README's reference sections and the JSON Schema, generated from the code's own tables
(`property_table.py`, `environment.py`), so that they cannot say something else.

    python -m lint.reference           rewrite them
    python -m lint.reference --check   exit 1 if either differs from what the tables say

A generated section sits between `<!-- generated: NAME -->` and `<!-- end: NAME -->`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src" / "handler"))

from rules.property_table import (  # noqa: E402
    ADOPTED_TAG,
    ATTRIBUTES,
    AUTHENTICATION_PROPERTIES,
    ENGINES,
    OWNERSHIP_TAGS,
    PROPERTIES,
    PROPERTY,
    SECRET_TAG,
    TAGS_MAX,
    TRUE_SCHEMA,
    any_case,
)
from runtime.environment import SETTINGS, Setting  # noqa: E402

README = ROOT / "README.md"
SCHEMA = ROOT / "schema" / "custom-elasticache-user.schema.json"
RESOURCE_TYPE = "Custom::ElastiCacheUser"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def syntax() -> str:
    body = "\n".join(
        f"  {p.name}:" + ("" if p.syntax.startswith("\n") else " ") + p.syntax.replace("\n", "\n  ") for p in PROPERTIES
    )
    return f"```yaml\nType: {RESOURCE_TYPE}\nProperties:\n{body}\n```"


def properties() -> str:
    rows = [(f"`{p.name}`", p.type, p.required, p.default, p.rules, p.update) for p in PROPERTIES]
    return _table(("Property", "Type", "Required", "Default", "Rules", "Update"), rows)


def tags() -> str:
    rows = [(f"`{key}`", meaning) for key, meaning in OWNERSHIP_TAGS.items()]
    rows.append(
        (f"`{SECRET_TAG}`", "with `PasswordSecretId` only: the secret the rotation function may rotate the user from")
    )
    rows.append(
        (
            f"`{ADOPTED_TAG}`",
            "on a user taken over (`AdoptExistingUser`) only, written with the ownership tags: the request id "
            "of the take-over. It was not made by the stack: if the take-over dies, the failure notifier "
            "does not name it, and the rollback leaves it",
        )
    )
    return _table(("Tag key", "Value"), rows)


def attributes() -> str:
    return _table(("Attribute", "Value"), [(f"`{a.name}`", a.meaning) for a in ATTRIBUTES])


def _default(setting: Setting) -> str:
    shown = f"`{setting.default}`" if setting.default else "empty"
    return shown + (f" (template: `{setting.template}`)" if setting.template else "")


def _bounds(setting: Setting) -> str:
    return f"{setting.low:g} to {setting.high:g}" if setting.low is not None else ""


def settings() -> str:
    rows = [(f"`{s.name}`", _default(s), _bounds(s), ", ".join(s.functions), s.meaning) for s in SETTINGS]
    return _table(("Variable", "Default", "Bounds", "Read by", "Meaning"), rows)


SECTIONS: dict[str, Callable[[], str]] = {
    "syntax": syntax,
    "properties": properties,
    "tags": tags,
    "attributes": attributes,
    "settings": settings,
}


def schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of the properties: what editors and other tools can check.
    It is looser than the provider (the access-string grammar, UserName = UserId with IAM and
    case-insensitive duplicates are checked by the provider and lint rule E9101 only)."""
    choices = [
        {"required": [name], **({"properties": {name: TRUE_SCHEMA}} if PROPERTY[name].type == "Boolean" else {})}
        for name in AUTHENTICATION_PROPERTIES
    ]
    valkey = {"properties": {"Engine": {"pattern": f"^{any_case(ENGINES[1])}$"}}, "required": ["Engine"]}
    no_password = {"properties": {"NoPasswordRequired": TRUE_SCHEMA}, "required": ["NoPasswordRequired"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/OWNER/elasticache-user-resource/schema/custom-elasticache-user.schema.json",
        "title": f"{RESOURCE_TYPE} properties",
        "type": "object",
        "properties": {p.name: {"description": _plain(p.rules), **p.schema} for p in PROPERTIES},
        "required": [p.name for p in PROPERTIES if p.required == "yes"],
        "additionalProperties": False,
        "oneOf": choices,
        "allOf": [
            {"if": valkey, "then": {"not": no_password}},
            {"if": {"required": ["PasswordSecretId"]}, "then": {"properties": {"Tags": {"maxItems": TAGS_MAX - 1}}}},
        ],
    }


def _plain(markdown: str) -> str:
    return re.sub(r"\[([^]]+)\]\(#[^)]+\)", r"\1 in the README", markdown).replace("`", "")


def rendered(readme: str) -> str:
    """`readme` with every generated section as the tables say."""
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(\n<!-- end: {name} -->)", re.S)
        found = pattern.search(readme)
        if found is None:
            raise SystemExit(f"README.md has no generated section '{name}'")
        readme = readme[: found.end(1)] + make() + readme[found.start(2) :]
    return readme


def schema_text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    readme, expected = README.read_text(), rendered(README.read_text())
    current = SCHEMA.read_text() if SCHEMA.exists() else ""
    if "--check" in argv:
        stale = [
            str(path.relative_to(ROOT))
            for path, ok in ((README, readme == expected), (SCHEMA, current == schema_text()))
            if not ok
        ]
        if stale:
            print("out of date (run python -m lint.reference): " + ", ".join(stale))
            return 1
        return 0
    README.write_text(expected)
    SCHEMA.parent.mkdir(exist_ok=True)
    SCHEMA.write_text(schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
