"""The docs' reference sections and the JSON Schema, generated from their sources so that they
cannot say something else: the property, tag and attribute tables (`property_table.py`) into
docs/template-authors.md; the settings (`environment.py`), the template's parameters and its
functions' log groups (`template.yaml`) into docs/operators.md; the benchmark's last results
(`bench/RESULTS.txt`, whatever sections it holds) into docs/internals.md.

    python -m lint.reference           rewrite them
    python -m lint.reference --check   exit 1 if any differs from what its source says

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

from lint.cfn_yaml import load_template  # noqa: E402
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

DOCS = ROOT / "docs"
TEMPLATE = ROOT / "template.yaml"
RESULTS = ROOT / "bench" / "RESULTS.txt"
RESULTS_LONG = ROOT / "bench" / "RESULTS-long.txt"
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


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def parameters() -> str:
    """Every parameter of template.yaml: what `sam deploy --guided` asks, with its Description."""
    rows = []
    for name, spec in load_template(TEMPLATE)["Parameters"].items():
        default = spec.get("Default", "")
        allowed = ", ".join(f"`{v}`" for v in spec.get("AllowedValues", []))
        if "AllowedPattern" in spec:
            allowed = f"`{spec['AllowedPattern']}`"
        shown = f"`{default}`" if default != "" else "empty"
        rows.append((f"`{name}`", spec["Type"], shown, allowed, _cell(spec.get("Description", ""))))
    return _table(("Parameter", "Type", "Default", "Allowed", "What it does"), rows)


def functions() -> str:
    """Each function of template.yaml with its name and log group, `<stack>` for the stack's name."""
    resources = load_template(TEMPLATE)["Resources"]
    rows = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        name = properties["FunctionName"]["Fn::Sub"].replace("${AWS::StackName}", "<stack>")
        group = resources[properties["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]["LogGroupName"]
        group = group["Fn::Sub"].replace("${AWS::StackName}", "<stack>")
        rows.append((f"`{logical_id}`", f"`{name}`", f"`{group}`", _cell(properties["Handler"])))
    return _table(("Function", "FunctionName", "Log group", "Handler"), rows)


def results_sections(text: str) -> list[tuple[str, str]]:
    """The benchmark's output as (title, body) pairs: a section is a title line and the indented
    lines under it, up to a blank line. Any section the benchmark prints is taken, so a new one
    needs no change here."""
    found = []
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        title, _, body = block.partition("\n")
        if body.strip():
            found.append((title.strip(), body))
    return found


def _results(text: str, titles: Callable[[str], bool] = lambda _: True) -> str:
    shown = [f"#### {title}\n\n```text\n{body}\n```" for title, body in results_sections(text) if titles(title)]
    return "\n\n".join(shown)


def bench() -> str:
    return _results(RESULTS.read_text())


def bench_long() -> str:
    return _results(RESULTS_LONG.read_text(), lambda title: title.startswith("Detection lag"))


TEMPLATE_AUTHORS, OPERATORS, INTERNALS = DOCS / "template-authors.md", DOCS / "operators.md", DOCS / "internals.md"
# Each generated section, the page it lives on, and what writes it.
SECTIONS: dict[str, tuple[Path, Callable[[], str]]] = {
    "syntax": (TEMPLATE_AUTHORS, syntax),
    "properties": (TEMPLATE_AUTHORS, properties),
    "tags": (TEMPLATE_AUTHORS, tags),
    "attributes": (TEMPLATE_AUTHORS, attributes),
    "settings": (OPERATORS, settings),
    "parameters": (OPERATORS, parameters),
    "functions": (OPERATORS, functions),
    "bench": (INTERNALS, bench),
    "bench-long": (INTERNALS, bench_long),
}
PAGES = tuple(dict.fromkeys(page for page, _ in SECTIONS.values()))


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
    return re.sub(r"\[([^]]+)\]\(#[^)]+\)", r"\1 in docs/template-authors.md", markdown).replace("`", "")


def rendered(text: str, page: Path) -> str:
    """`text` (the page's) with every generated section of that page as its source says."""
    for name, (home, make) in SECTIONS.items():
        if home != page:
            continue
        pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(\n<!-- end: {name} -->)", re.S)
        found = pattern.search(text)
        if found is None:
            raise SystemExit(f"{page.relative_to(ROOT)} has no generated section '{name}'")
        text = text[: found.end(1)] + make() + text[found.start(2) :]
    return text


def schema_text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    pages = {page: (page.read_text(), rendered(page.read_text(), page)) for page in PAGES}
    current = SCHEMA.read_text() if SCHEMA.exists() else ""
    if "--check" in argv:
        checked = [(page, text == expected) for page, (text, expected) in pages.items()]
        stale = [str(path.relative_to(ROOT)) for path, ok in (*checked, (SCHEMA, current == schema_text())) if not ok]
        if stale:
            print("out of date (run python -m lint.reference): " + ", ".join(stale))
            return 1
        return 0
    for page, (_, expected) in pages.items():
        page.write_text(expected)
    SCHEMA.parent.mkdir(exist_ok=True)
    SCHEMA.write_text(schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
