"""A user group owner's consent, for the group's own stack: `members_from(...)` is the tag a
native `AWS::ElastiCache::UserGroup` (`CfnUserGroup`) carries so that users of the named stacks
may join it through the provider (docs/sharing.md). The key and `:all` are the handler's own
(src/handler/elasticache/limits.py, consent.py)."""

from __future__ import annotations

import re

from aws_cdk import CfnTag, Token

from cdk_elasticache_user._sources import handler_rules

# CloudFormation stack names: a letter, then letters, digits and hyphens (at most 128).
STACK_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")
TAG_VALUE_MAX = 256

with handler_rules() as _modules:
    CONSENT_TAG: str = _modules["elasticache.limits"].CONSENT_TAG
    ALL_STACKS: str = _modules["elasticache.consent"].ALL_STACKS


def members_from(*stack_prefixes: str) -> CfnTag:
    """The consent tag admitting users of every stack whose name starts with one of
    `stack_prefixes` (or `ALL_STACKS` alone: every stack that uses the provider)."""
    if list(stack_prefixes) == [ALL_STACKS]:
        return CfnTag(key=CONSENT_TAG, value=ALL_STACKS)
    wrong = [p for p in stack_prefixes if not Token.is_unresolved(p) and not STACK_PREFIX.fullmatch(p)]
    if not stack_prefixes or wrong:
        raise ValueError(
            f"members_from: {wrong[0]!r} is no stack name prefix (a letter, then letters, digits and hyphens), so "
            f"it would admit no stack; name stack prefixes, or '{ALL_STACKS}' alone for every stack."
            if wrong
            else f"members_from: name at least one stack name prefix, or '{ALL_STACKS}' alone for every stack."
        )
    value = " ".join(stack_prefixes)
    if not Token.is_unresolved(value) and len(value) > TAG_VALUE_MAX:
        raise ValueError(
            f"members_from: the tag's value is {len(value)} characters; ElastiCache takes {TAG_VALUE_MAX}."
        )
    return CfnTag(key=CONSENT_TAG, value=value)
