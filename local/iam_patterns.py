"""IAM's strings in a policy: the `*` and `?` wildcards and policy variables, as the IAM User
Guide's "IAM JSON policy elements: Resource" and "IAM policy elements: Variables and tags"
pages say (local/iam_policy.py evaluates with them; local/iam_differential.py reads them too).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

ContextValue = str | Sequence[str]


class PolicyError(ValueError):
    """A policy this evaluator cannot read: better refused loudly than evaluated wrongly."""


# The Service Authorization Reference's ArrayOf* keys among those this project's policies and
# requests use (EventBridge: events:TargetArn ArrayOfARN, events:source and events:detail-type
# ArrayOfString; every service's aws:TagKeys ArrayOfString; docs/aws-behaviour.md).
MULTIVALUED = frozenset({"aws:tagkeys", "events:targetarn", "events:source", "events:detail-type"})
# Policy variables a policy of ours may use: the principal's and the tags' single-valued global
# keys (a key, or a prefix ending in `/`). Any other is refused rather than guessed.
VARIABLES = frozenset(
    {"aws:username", "aws:userid", "aws:principalaccount", "aws:principalarn", "aws:principaltag/"}
    | {"aws:resourcetag/", "aws:requesttag/", "aws:sourceaccount", "aws:sourcearn"}
)
# ${*}, ${?}, ${$}: the literal characters ("Variables and tags": special characters).
SPECIAL = {"*": "*", "?": "?", "$": "$"}
TOKEN = re.compile(r"\$\{([^}]*)\}|[*?]")
VARIABLE = re.compile(r"\s*([^,\s]+)\s*(?:,\s*'([^']*)')?\s*")


def check_variables(text: str) -> None:
    """Refuse a policy variable of `text` this evaluator does not substitute (the special
    characters ${*} ${?} ${$} are always read)."""
    for token in TOKEN.finditer(text):
        if token.group(1) is None or token.group(1) in SPECIAL:
            continue
        parsed = VARIABLE.fullmatch(token.group(1))
        name = parsed.group(1).lower() if parsed else token.group(1)
        known = name in VARIABLES or any(p.endswith("/") and name.startswith(p) for p in VARIABLES)
        if parsed is None or not known or name in MULTIVALUED:
            raise PolicyError(f"policy variable ${{{token.group(1)}}} is not one this evaluator substitutes")


def _regex(text: str, context: Mapping[str, ContextValue], wildcards: bool, segments: bool) -> str | None:
    """`text` as a regular expression: variables substituted (None: one has no value),
    `*` and `?` wildcards when `wildcards`, kept within a colon-separated segment when
    `segments` (a `*` ending its segment excepted)."""
    body, at = [], 0
    for token in TOKEN.finditer(text):
        body.append(re.escape(text[at : token.start()]))
        at = token.end()
        if token.group(1) is None:
            star, last = token.group(0) == "*", at == len(text) or text[at] == ":"
            if not wildcards:
                body.append(re.escape(token.group(0)))
            elif segments and not (star and last):
                body.append("[^:]*" if star else "[^:]")
            else:
                body.append(".*" if star else ".")
        elif token.group(1) in SPECIAL:
            body.append(re.escape(SPECIAL[token.group(1)]))
        else:
            parsed = VARIABLE.fullmatch(token.group(1))
            assert parsed is not None  # check_variables() refused it at parse time
            value = context.get(parsed.group(1).lower())
            if isinstance(value, str) and value:
                body.append(re.escape(value))
            elif parsed.group(2):
                body.append(re.escape(parsed.group(2)))
            else:
                return None
    body.append(re.escape(text[at:]))
    return "".join(body)


@functools.lru_cache(maxsize=4096)
def _pattern(text: str, ignore_case: bool, segments: bool = False) -> re.Pattern[str] | None:
    regex = _regex(text, {}, True, segments)
    return None if regex is None else re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(
    pattern: str,
    value: str,
    ignore_case: bool = False,
    context: Mapping[str, ContextValue] | None = None,
    segments: bool = False,
) -> bool:
    """IAM's wildcards: `*` any run of characters, `?` one (within an ARN segment when
    `segments`); policy variables from `context` (keys in lower case)."""
    if "${" not in pattern:
        compiled = _pattern(pattern, ignore_case, segments)
    else:
        regex = _regex(pattern, context or {}, True, segments)
        compiled = None if regex is None else re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))
    return compiled is not None and compiled.fullmatch(value) is not None


def substituted(policy: str, context: Mapping[str, ContextValue], specials: bool) -> str | None:
    """A condition value with its policy variables replaced by their values (None: one has no
    value); ${*} ${?} ${$} too when `specials` (an operator without wildcards), else kept for
    `matches`, which reads them as literal characters. A tag value cannot hold `*` or `?`
    (ElastiCache's Tag.Value pattern), so a substituted value adds no wildcard."""
    if "${" not in policy:
        return policy
    out, at = [], 0
    for token in TOKEN.finditer(policy):
        name = token.group(1)
        if name is None or (name in SPECIAL and not specials):
            continue
        out.append(policy[at : token.start()])
        at = token.end()
        if name in SPECIAL:
            out.append(SPECIAL[name])
            continue
        parsed = VARIABLE.fullmatch(name)
        assert parsed is not None  # check_variables() refused it at parse time
        value = context.get(parsed.group(1).lower())
        if isinstance(value, str) and value:
            out.append(value)
        elif parsed.group(2):
            out.append(parsed.group(2))
        else:
            return None
    out.append(policy[at:])
    return "".join(out)
