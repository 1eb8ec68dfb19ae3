"""cfn-lint rule E9101 (cfn_lint_rules/): users' templates checked with the handler's own
validation, before a deploy. Runs cfn-lint as a user would."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

TEMPLATES = ROOT / "tests" / "templates"


def lint(template: Path) -> tuple[int, list[tuple[int, str]]]:
    """cfn-lint's exit code and its E9101 findings as (line, message)."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(template), "--append-rules", str(ROOT / "cfn_lint_rules")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    findings = re.findall(r"^E9101 (.*)\n.*?:(\d+):\d+$", done.stdout, flags=re.MULTILINE)
    return done.returncode, [(int(line), message) for message, line in findings]


def test_a_bad_template_gets_one_finding_per_broken_rule_with_its_line() -> None:
    code, findings = lint(TEMPLATES / "bad-stack.yaml")
    assert code & 2, "errors must fail cfn-lint (its exit code is a bit mask; 2: error)"
    assert findings == [
        (7, "Custom::ElastiCacheUser BadUser: ServiceTimeout must be 1 to 3600 seconds."),
        (
            8,
            "Custom::ElastiCacheUser BadUser: UserId must start with a letter, hold only letters, digits and "
            "hyphens, and be at most 40 characters (got 15 characters).",
        ),
        (10, "Custom::ElastiCacheUser BadUser: Engine must be redis or valkey."),
        (12, "Custom::ElastiCacheUser BadUser: Passwords[0] must be 16 to 128 characters long (got 5)."),
        (
            14,
            "Custom::ElastiCacheUser BadUser: Tags[0]: keys starting with 'aws:' or 'elasticache-user-resource:' "
            "are reserved.",
        ),
        (17, "Custom::ElastiCacheUser BadUser: UserGroupIds[1]: the group 'orders' appears twice."),
        (
            20,
            "Custom::ElastiCacheUser BothAuthentications: Set exactly one of Passwords, PasswordSecretId, "
            "PasswordParameterName, AuthenticationMode and NoPasswordRequired: true (got AuthenticationMode, "
            "NoPasswordRequired).",
        ),
        (29, "Custom::ElastiCacheUser BothAuthentications: Unknown property Passwrds."),
        (
            38,
            "Custom::ElastiCacheUser DynamicReference: Passwords: dynamic references ({{resolve:...}}) are not "
            "resolved in custom resource properties; use PasswordSecretId or PasswordParameterName.",
        ),
    ]


def test_a_good_sam_template_with_intrinsic_values_passes() -> None:
    assert lint(TEMPLATES / "good-stack.yaml") == (0, [])


def test_the_rule_is_the_handlers_validation(tmp_path: Path) -> None:
    # A rule added to the handler reaches the lint rule without a second copy: a password
    # with a comma is refused by both.
    template = (TEMPLATES / "bad-stack.yaml").read_text().replace("- short", "- with,comma-1234567890")
    (tmp_path / "stack.yaml").write_text(template)
    messages = [message for _, message in lint(tmp_path / "stack.yaml")[1]]
    assert any("Passwords[0] may hold only printable ASCII characters other than space, ','" in m for m in messages)


def test_broken_access_strings_are_reported_token_by_token() -> None:
    code, findings = lint(TEMPLATES / "bad-access.yaml")
    assert code & 2 and code & 4  # errors and warnings
    by_line = {(line, message.split(": ", 1)[1].split(":")[0]) for line, message in findings}
    assert by_line == {
        (11, "AccessString token 3 '+@reads'"),
        (11, "AccessString token 4 '+gett'"),
        (20, "AccessString token 2 'app"),
        (29, "AccessString token 4 '>…'"),
        (38, "AccessString token 4 '+config|get'"),
        (47, "AccessString token 3 '(~b"),
        (56, "AccessString token 3 '%R~logs"),
    }
    assert "Written-In-Here" not in str(findings)  # a password written in the string is never quoted
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            str(TEMPLATES / "bad-access.yaml"),
            "--append-rules",
            str(ROOT / "cfn_lint_rules"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    warnings = re.findall(r"^W9102 .*NeverOn: (.*)$", done.stdout, flags=re.MULTILINE)
    assert any("neither 'on' nor 'off'" in w for w in warnings) and any("-@dangerous" in w for w in warnings)
    assert any("needs Redis OSS 7.0" in w for w in warnings)
