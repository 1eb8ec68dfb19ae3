"""A group owner's consent: may a user of this stack join this user group? Pure: the group's
tags and the stack's name in, a verdict out (groups.py reads the tags, ListTagsForResource).

The owner writes the tag `elasticache-user-resource:members-from` on the group: stack-name
prefixes separated by spaces (a stack whose name starts with one of them is admitted), or the
single entry `:all` (every stack that uses this provider). ElastiCache allows only letters,
digits, spaces and `_ . / = + : - @` in a tag value, so there is no `*`; a stack name cannot
contain `:` (CloudFormation: letters, digits and hyphens), so `:all` is no prefix of one.
Only a join needs consent: leaving a group, or keeping a membership, does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from elasticache.limits import CONSENT_TAG

ALL_STACKS = ":all"


class Verdict(NamedTuple):
    admitted: bool
    reason: str


def verdict(group_id: str, tags: Mapping[str, str], stack_name: str) -> Verdict:
    """Whether the group's owner admits users of `stack_name`, and why (a sentence naming the
    group, the tag and the stack, with what the owner must do when it does not)."""
    value = tags.get(CONSENT_TAG)
    remedy = (
        f"The group's owner must add '{stack_name}' (or a prefix of it, or '{ALL_STACKS}') to that tag's "
        "space-separated value; or remove the group from UserGroupIds."
    )
    if value is None:
        return Verdict(
            False,
            f"User group '{group_id}' does not carry the tag '{CONSENT_TAG}', so its owner has not agreed that "
            f"users of stack '{stack_name}' join it. {remedy}",
        )
    entries = value.split()
    if entries == [ALL_STACKS]:
        return Verdict(True, f"User group '{group_id}' admits every stack ('{CONSENT_TAG}' is '{ALL_STACKS}').")
    admitting = next((p for p in entries if p != ALL_STACKS and stack_name.startswith(p)), None)
    if admitting is not None:
        return Verdict(True, f"User group '{group_id}' admits stack '{stack_name}' (prefix '{admitting}').")
    return Verdict(
        False,
        f"User group '{group_id}' admits users of the stacks named in its tag '{CONSENT_TAG}' ('{value[:100]}'), "
        f"and stack '{stack_name}' starts with none of them. {remedy}",
    )
