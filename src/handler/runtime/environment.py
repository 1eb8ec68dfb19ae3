"""Every environment variable the functions read: name, default, bounds, meaning, in one table.

`config.py` and the modules that read a variable take its default and bounds from here; the
docs/operators.md's settings table is generated from it (`python -m lint.reference`), and a test
compares every function's environment in template.yaml with it by value.
"""

from __future__ import annotations

import os
from typing import NamedTuple


class Setting(NamedTuple):
    """One environment variable. `low`/`high` bound a number: a value outside is clamped and an
    unreadable one falls back to the default. `template` is what template.yaml sets instead of
    the default (a parameter or a pseudo parameter), `functions` the functions that read it."""

    name: str
    default: str
    meaning: str
    low: float | None = None
    high: float | None = None
    template: str = ""
    functions: tuple[str, ...] = ("provider",)

    def text(self) -> str:
        return os.environ.get(self.name, self.default)

    def number(self) -> float:
        assert self.low is not None and self.high is not None, self.name
        try:
            value = float(self.text())
        except ValueError:
            value = float(self.default)
        return min(self.high, max(self.low, value))

    def flag(self) -> bool:
        return self.text().strip().lower() == "true"


ALL = ("provider", "notifier", "rotation", "drift")
# Every function that waits for users (the drift function too: its repair waits like the provider).
PROVIDER_AND_ROTATION = ("provider", "rotation", "drift")

SETTINGS = (
    Setting(
        "POWERTOOLS_SERVICE_NAME",
        "elasticache-user-resource",
        "Service name in logs and metrics (the notifier and the rotation function carry their own).",
        functions=ALL,
    ),
    Setting(
        "POWERTOOLS_LOG_LEVEL",
        "INFO",
        "Level of the function's JSON logs. crhelper and botocore stay at WARNING whatever this says "
        "(at DEBUG they log events and request bodies).",
        template="LogLevel",
        functions=ALL,
    ),
    Setting(
        "POWERTOOLS_METRICS_NAMESPACE",
        "ElastiCacheUserResource",
        "CloudWatch namespace of the `<RequestType><Outcome>` counts (e.g. `DeleteSucceeded`, `DeleteHandedOver`), "
        "the notifier's `AnsweredByNotifier` and the drift function's `DriftedUsers` (runtime/metrics.py).",
        functions=("provider", "notifier", "drift"),
    ),
    Setting(
        "DEADLINE_MARGIN_SECONDS",
        "10",
        "Time kept free before the Lambda deadline to answer or hand over.",
        2,
        120,
        functions=PROVIDER_AND_ROTATION,
    ),
    Setting(
        "RESPONSE_MAX_ATTEMPTS",
        "5",
        "PUTs of one answer at most (connection errors and 5xx are retried; 4xx are not).",
        1,
        20,
    ),
    Setting("RESPONSE_TIMEOUT_SECONDS", "5", "Time one PUT may take.", 0.5, 30),
    Setting(
        "RESPONSE_URL_ALLOWED_HOSTS",
        "",
        "Comma-separated hosts allowed besides the S3 hosts of every AWS partition (their DNS suffixes are "
        "read from botocore's `partitions.json`: `amazonaws.com`, `amazonaws.com.cn`, `amazonaws.eu`, the "
        "ISO ones). Local runs and tests: `127.0.0.1`.",
        functions=("provider", "notifier"),
    ),
    Setting(
        "POLL_INTERVAL_MINUTES",
        "1",
        "Minutes between poll re-invocations after a hand-over (EventBridge's shortest rate is one minute).",
        1,
        60,
    ),
    Setting(
        "POLL_INITIAL_SECONDS",
        "0.5",
        "First wait between status checks.",
        0.05,
        30,
        functions=PROVIDER_AND_ROTATION,
    ),
    Setting("POLL_GROWTH", "1.25", "Factor by which the wait grows.", 1, 4, functions=PROVIDER_AND_ROTATION),
    Setting("POLL_MAX_SECONDS", "2", "Longest wait between status checks.", 0.05, 60, functions=PROVIDER_AND_ROTATION),
    Setting(
        "UNDO_SECONDS",
        "30",
        "Time kept out of the work's budget (at most a third of it) to undo what a failed request changed "
        "— groups it joined or left, a user it made — so that a failure met at the deadline is still undone.",
        0,
        300,
    ),
    Setting(
        "THROTTLE_PAUSE_SECONDS",
        "30",
        "Pause an ElastiCache client keeps between its attempts once a call was throttled: doubled at each "
        "further throttle up to 4x, halving every minute without one, jittered. Many invocations at once "
        "(a stack of hundreds of users) so slow down together; 0 turns the pacing off.",
        0,
        300,
        functions=ALL,
    ),
    Setting(
        "READ_AFTER_WRITE_SECONDS",
        "10",
        'After CreateUser or a group change is accepted, "not found" or a read that does not show the change '
        "yet is taken as read-after-write lag, not as gone or refused, for this long.",
        0,
        120,
        functions=PROVIDER_AND_ROTATION,
    ),
    Setting(
        "CONFIRM_LAG_SECONDS",
        "5",
        "How long a request whose status CloudFormation does not show yet is read again before it is "
        "refused (CloudFormation sets the status before it invokes the provider; this covers a read that "
        "trails that write).",
        0,
        30,
        functions=("provider", "notifier"),
    ),
    Setting(
        "PROVIDER_ID",
        "unset",
        "The value of the `elasticache-user-resource:provider` tag on every user this provider makes; the "
        "IAM policy changes only users carrying it.",
        template="AWS::StackId",
        functions=ALL,
    ),
    Setting(
        "USER_ID_PREFIX",
        "",
        "Users whose UserId does not start with it are refused before any API call.",
        template="UserIdPrefix",
        functions=PROVIDER_AND_ROTATION,
    ),
    Setting(
        "ALLOW_ADOPTION",
        "false",
        "Whether `AdoptExistingUser: true` is honoured.",
        template="AllowAdoption",
    ),
    Setting(
        "USER_GROUP_ID_PREFIX",
        "",
        "Groups in `UserGroupIds` that do not start with it are refused before any API call.",
        template="UserGroupIdPrefix",
        functions=("provider", "drift"),
    ),
    Setting(
        "REQUIRE_GROUP_CONSENT",
        "true",
        "Whether a user joins a user group only when the group's tag `elasticache-user-resource:members-from` "
        "admits the requesting stack (its owner's consent; docs/sharing.md). 'false' (an account with one team): "
        "any group under UserGroupIdPrefix.",
        template="RequireGroupConsent",
        functions=("provider", "drift"),
    ),
    # Drift (drift/app.py, records.py).
    Setting(
        "DRIFT_RECORD_PATH",
        "/elasticache-user-resource",
        "Parameter Store path of the applied-state records: each Create or Update writes what it applied to "
        "`<path>/<provider stack name>/<UserId>` (a String parameter, no secret); a Delete removes it. The drift "
        "function reads them back. Empty: nothing is recorded.",
        template="DriftRecordPath",
        functions=("provider", "drift"),
    ),
    Setting(
        "ALLOW_DRIFT_REPAIR",
        "false",
        'Whether the drift function may repair (the event must ask as well: `{"repair": true}`).',
        template="AllowDriftRepair",
        functions=("drift",),
    ),
    Setting(
        "DRIFT_CALLS_PER_SECOND",
        "10",
        "ElastiCache calls per second the drift function makes at most (a token bucket): ElastiCache's API "
        "rate is shared with every other caller in the account and Region.",
        0.5,
        100,
        functions=("drift",),
    ),
)
SETTING = {setting.name: setting for setting in SETTINGS}
