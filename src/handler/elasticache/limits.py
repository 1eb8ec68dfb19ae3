"""The provider's fixed names and limits: ElastiCache's rules for ids, passwords and tags, and
the tag keys the resource writes. Light on purpose: every request imports it (a Delete too),
while `property_table.py` builds the reference tables from it only for Create and Update."""

from __future__ import annotations

import string

# ElastiCache's limits (API reference, CreateUser; the RBAC guide for passwords).
USER_ID_REGEX = "[a-zA-Z][a-zA-Z0-9-]*"
USER_ID_MAX = 40
USER_NAME_MAX = 120
ENGINES = ("redis", "valkey")
PASSWORD_MIN, PASSWORD_MAX, PASSWORDS_MAX = 16, 128, 2
# ElastiCache RBAC docs (Clusters.RBAC): 16-128 printable characters, none of , " / @.
# Space is refused too: the docs do not name it, and passwords become `>password` rules
# of a Redis ACL, whose rules are separated by spaces.
PASSWORD_FORBIDDEN = frozenset(' ,"/@')
PASSWORD_ALLOWED = frozenset(string.printable) - frozenset(string.whitespace) - PASSWORD_FORBIDDEN
AUTHENTICATION_TYPES = ("password", "iam", "no-password-required")
TAG_KEY_MAX, TAG_VALUE_MAX, USER_TAGS_MAX = 128, 256, 50
GROUPS_MAX = 100
# CloudFormation's own: ServiceTimeout is 1 to 3600 seconds, 3600 when not set.
SERVICE_TIMEOUT_MAX = 3600

# Keys the resource writes itself to mark what it owns; a template may not set them.
OWNER_TAG_PREFIX = "elasticache-user-resource:"
PROVIDER_TAG = OWNER_TAG_PREFIX + "provider"
STACK_TAG = OWNER_TAG_PREFIX + "stack-id"
LOGICAL_ID_TAG = OWNER_TAG_PREFIX + "logical-id"
# The Secrets Manager secret a user was declared with: the rotation function rotates only it.
SECRET_TAG = OWNER_TAG_PREFIX + "password-secret"
# On a user taken over (AdoptExistingUser), written with the ownership tags in one call: a user
# this provider did not make. The failure notifier never names such a user, so that a rollback
# after a killed take-over deletes nothing.
ADOPTED_TAG = OWNER_TAG_PREFIX + "adopted"
# Written by an operator, never by the provider (its roles deny it, template.yaml): the user is
# held (the value says why). No Update changes it and no drift repair touches it; a Delete may.
HOLD_TAG = OWNER_TAG_PREFIX + "hold"
OWNERSHIP_TAGS = {
    PROVIDER_TAG: "the provider stack's id (`PROVIDER_ID`): the IAM policy changes only users carrying it",
    STACK_TAG: "the stack's id",
    LOGICAL_ID_TAG: "the resource's logical id",
}
TAGS_MAX = USER_TAGS_MAX - len(OWNERSHIP_TAGS)
RESERVED_TAG_PREFIXES = ("aws:", OWNER_TAG_PREFIX)
# On a user group, written by the group's owner (never by this provider: its roles may only read
# it): which stacks' users may join the group (consent.py).
CONSENT_TAG = OWNER_TAG_PREFIX + "members-from"
