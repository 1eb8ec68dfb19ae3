"""Access strings: the validator's verdict against the real engine's `ACL SETUSER`, on strings
generated from the grammar (valid ones and broken ones) and on the documentation's examples.

They must agree on everything the engine judges; ElastiCache's own rules (no passwords,
nopass, resetpass, reset, restricted commands) are the listed exceptions, checked apart."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.engine import Engine
from rules.access_string import RESTRICTED, analyse, engine_table
from tests.conftest import ROOT

CATEGORIES, COMMANDS = engine_table()
NAMES = sorted(COMMANDS)
WITH_SUBCOMMANDS = sorted(name for name, subs in COMMANDS.items() if subs)
PATTERN = st.text(alphabet="ab:*?[]^-{}()\\~%&|", max_size=6)
CASE = st.sampled_from([str.lower, str.upper, str.title])


@st.composite
def command_rule(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from("+-"))
    kind = draw(st.sampled_from(["command", "category", "subcommand", "first-arg", "misspelt", "empty"]))
    if kind == "category":
        name = "@" + draw(st.sampled_from([*CATEGORIES, "reads", "al", "", "all|x"]))
    elif kind == "subcommand":
        command = draw(st.sampled_from(WITH_SUBCOMMANDS))
        name = command + "|" + draw(st.sampled_from([*sorted(COMMANDS[command]), "nosuch", ""]))
    elif kind == "first-arg":
        name = draw(st.sampled_from(["select", "get", "nosuch"])) + "|" + draw(st.sampled_from(["0", "x", "", "a|b"]))
    elif kind == "misspelt":
        name = draw(st.sampled_from(NAMES)) + draw(st.sampled_from(["x", "s", "_"]))
    else:
        name = draw(st.sampled_from(["", "|get", "get||x"]))
    if kind == "command" or draw(st.booleans()):
        name = draw(st.sampled_from(NAMES)) if kind == "command" else name
    return sign + draw(CASE)(name)


@st.composite
def key_rule(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["~", "%R~", "%W~", "%RW~", "%WR~", "%rw~", "%", "%~", "%RR~", "%X~", "%R", "&"]))
    return prefix + draw(st.sampled_from(["*", "", "app:*"]) | PATTERN)


KEYWORDS = st.sampled_from(
    [
        "on",
        "off",
        "allkeys",
        "resetkeys",
        "allchannels",
        "resetchannels",
        "allcommands",
        "nocommands",
        "clearselectors",
        "sanitize-payload",
        "skip-sanitize-payload",
    ]
).flatmap(lambda word: CASE.map(lambda case: case(word)))
# Inside a selector the engine splits again, with quoting (engine_split.py): blanks, quotes, escapes.
QUOTED = st.sampled_from(
    ['"~a"', "'~a'", '~a"', "'~a", '""', "~a\t", "\t~a", "\v~a", '"~a\\x41"', "'a\\'b'", '"+get"x']
)
SELECTOR_INNER = st.one_of(command_rule(), key_rule(), KEYWORDS, QUOTED)
BROKEN = st.sampled_from(["@read", "app:*", ")", "x(~a)", "((~a))", "+", "-", "on,", "~a\t"])


@st.composite
def selector(draw: st.DrawFn) -> list[str]:
    inner = draw(st.lists(SELECTOR_INNER, max_size=3))
    shape = draw(st.sampled_from(["closed", "closed", "unclosed", "spaced", "empty"]))
    if shape == "empty":
        return ["()"]
    if shape == "spaced":
        return ["(", *inner, ")"]
    if not inner:
        inner = ["~a"]
    first, *rest = inner
    if shape == "unclosed":
        return ["(" + first, *rest]
    if rest:
        return ["(" + first, *rest[:-1], rest[-1] + ")"]
    return ["(" + first + ")"]


ACCESS_STRING = st.lists(
    st.one_of(
        KEYWORDS.map(lambda w: [w]),
        command_rule().map(lambda r: [r]),
        key_rule().map(lambda r: [r]),
        selector(),
        BROKEN.map(lambda b: [b]),
    ),
    min_size=1,
    max_size=6,
).map(lambda groups: " ".join(token for group in groups for token in group))


def engine_verdict(engine: Engine, access_string: str) -> str | None:
    return engine.refusal([t for t in access_string.split(" ") if t])


# 2,000 generated strings per run; each is compared with the real engine.
@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
@given(access_string=ACCESS_STRING)
def test_the_validator_agrees_with_the_engine_on_generated_strings(engine: Engine, access_string: str) -> None:
    analysis = analyse(access_string)
    refused = engine_verdict(engine, access_string)
    assert analysis.engine_refuses() == (refused is not None), (access_string, refused, analysis.findings)


# The examples of the ElastiCache RBAC guide and the Redis ACL documentation.
DOCUMENTED = [
    "on ~* +@all",
    "on ~app::* -@all +@read",
    "on ~* &* +@all",
    "off ~keys* -@all +get",
    "on ~cached:* +get +set",
    "on ~* -@all +@read +@hash +@bitmap +@geo -setbit -bitfield -hset -hsetnx -hmset -hincrby -hincrbyfloat -hdel "
    "-bitop -geoadd -georadius -georadiusbymember",
    "on ~* -@all +@write",
    "on ~* +@all -@dangerous",
    "on allkeys allchannels allcommands",
    "on resetkeys ~objects:* ~items:* ~public:* +@all -@dangerous",
    "on %R~app:* %W~log:* +@all",
    "on ~* +@all (~app:* +@read) ",
    "on resetchannels &notifications:* +subscribe +psubscribe",
    "on ~* +client|setname +client|getname -@all +ping",
    "on -@all +select|0 ~*",
    "on ~* +@all -config|set",
]


def test_documented_examples_are_valid_for_both(engine: Engine) -> None:
    for access_string in DOCUMENTED:
        assert analyse(access_string).errors == [], access_string
        assert engine_verdict(engine, access_string) is None, access_string


def test_elasticache_rules_refuse_what_the_engine_would_take(engine: Engine) -> None:
    for access_string, rule in [
        ("on ~* +@all >Some-Passw0rd-123", "holds no passwords"),
        ("on ~* +@all nopass", "holds no passwords"),
        ("on ~* resetpass +@all", "holds no passwords"),
        ("reset on ~* +@all", "holds no passwords"),
        ("on #" + "a" * 64 + " ~*", "holds no passwords"),
        *((f"on ~* +{command}", "restricts") for command in sorted(RESTRICTED)),
        ("on ~* +config|get", "restricts"),
    ]:
        analysis = analyse(access_string)
        assert engine_verdict(engine, access_string) is None, access_string
        assert not analysis.engine_refuses()
        assert analysis.errors and rule in analysis.errors[0].message, access_string
        assert "Some-Passw0rd" not in json.dumps([f.describe() for f in analysis.findings])


def test_advice_and_the_minimum_engine_version() -> None:
    warned = {s: [w.message for w in analyse(s).warnings] for s in ["~* +@all", "on ~* +@all", "on +acl ~*"]}
    assert any("'off'" in m for m in warned["~* +@all"])
    assert any("-@dangerous" in m for m in warned["on ~* +@all"])
    assert any("ACL SETUSER" in m for m in warned["on +acl ~*"])
    assert analyse("on ~* +@all -@dangerous").warnings == []
    assert [analyse(s).minimum_engine for s in ["on ~a +get", "on &ch", "on %R~a", "on (~a)", "on -config|get"]] == [
        "6.0",
        "6.2",
        "7.0",
        "7.0",
        "7.0",
    ]


def test_the_command_table_is_the_engines(engine: Engine) -> None:
    shipped = json.loads((ROOT / "src" / "handler" / "rules" / "engine_commands.json").read_text())
    assert engine.command_table() == shipped  # regenerate: python -m local.engine table
