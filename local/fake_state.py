"""The stateful fake's records: users and user groups as ElastiCache holds them (no behaviour;
`fake_elasticache.py` changes them, `fake_wire.py` writes them as XML)."""

from __future__ import annotations

from dataclasses import dataclass, field

ARN_PREFIX = "arn:aws:elasticache:us-east-1:123456789012:user:"
GROUP_ARN_PREFIX = "arn:aws:elasticache:us-east-1:123456789012:usergroup:"


@dataclass
class FakeUser:
    user_id: str
    user_name: str
    engine: str = "redis"
    access_string: str = "on ~* +@all"
    authentication_type: str = "password"
    password_count: int = 1
    passwords: list[str] = field(default_factory=list, repr=False)
    status: str = "active"
    user_group_ids: list[str] = field(default_factory=list)
    default_of: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    # A transient status ends at `settle_at`, becoming `settle_to` (None: the user is gone).
    settle_at: float | None = None
    settle_to: str | None = "active"
    # Until then (time.monotonic()), tag changes / ModifyUser are refused though it is active.
    tagging_busy_until: float = 0.0
    modify_refused_until: float = 0.0
    # Until then, reads answer UserNotFound (read-after-write lag of a new user).
    visible_at: float = 0.0
    # The access string as the engine prints it (what DescribeUsers reports), once mirrored.
    reported_access_string: str = ""

    @property
    def arn(self) -> str:
        return ARN_PREFIX + self.user_id


@dataclass
class FakeGroup:
    group_id: str
    engine: str = "redis"
    user_ids: list[str] = field(default_factory=list)
    status: str = "active"
    settle_at: float | None = None
    adding: list[str] = field(default_factory=list)
    removing: list[str] = field(default_factory=list)
    # What reads show until `stale_until` (read-after-write lag of a membership change).
    stale_xml: str = ""
    stale_until: float = 0.0
    # The group's own tags (its owner's consent to members from providers: docs/sharing.md).
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return GROUP_ARN_PREFIX + self.group_id
