"""The Secrets Manager rotation function for users of this provider: zero-downtime password
rotation through ElastiCache's two password slots. One function serves every secret.

Secrets Manager invokes it with {"SecretId", "ClientRequestToken", "Step"} for each of four
steps, each possibly more than once (rotation guide):
- createSecret: the new password, as AWSPENDING (read first: PutSecretValue with the same
  token and another value is refused, so a retried step must reuse what it stored);
- setSecret: the user's passwords become [AWSCURRENT, AWSPENDING], never the pending one
  alone (ModifyUser replaces the whole list: clients still on the current one keep working);
- testSecret: no side effects. In a rotation, the user is active and holds both passwords.
  Secrets Manager also runs it alone, to check a configuration (RotateSecret with
  RotateImmediately=false: "The test creates an AWSPENDING version of the secret and then
  removes it", API reference): that version is empty or a copy of AWSCURRENT, and the user
  holds whatever the last rotation left (two passwords), so it checks what holds without a
  rotation: the user is active, a password user, owned, bound to this secret, and holds a
  password (DescribeUsers shows only PasswordCount, never the passwords);
- finishSecret: AWSCURRENT moves to the new version, only once setSecret gave the user its
  password: setSecret labels the version it applied `SET_LABEL` (a staging label of our own,
  moved there after ModifyUser was accepted; a label is on one version at a time), so a
  finishSecret sent before setSecret (anyone may invoke the function) changes nothing and
  fails. The old password stays on the user until the next rotation's setSecret: readers that
  cached it have the whole interval.

It changes only a user this provider owns (its provider tag) and only through the secret the
user was declared with (the `…:password-secret` tag the custom resource writes); it refuses
IAM, no-password and `default` users, and a pending version naming another user. A refusal
is an error in the logs, and nothing is half-changed. A step that runs out of time fails, so
that Secrets Manager retries it; the retry converges.
"""

from __future__ import annotations

import json
import os
from typing import Any

from botocore.exceptions import ClientError

from elasticache.user_spec import Ownership
from elasticache.users import UserLifecycle
from rules.properties import check_passwords
from rules.property_table import PROVIDER_TAG, SECRET_TAG
from runtime.clients import aws_client, bounded_by, elasticache_client
from runtime.config import Settings
from runtime.deadline import Deadline
from runtime.exceptions import UserOperationError, error_code
from runtime.log import logger, quiet_libraries

# Characters ElastiCache refuses in a password (RBAC guide: , " / @), a space, and characters
# that shells and connection URLs mangle.
EXCLUDED = ",\"/@ '\\`"
PASSWORD_LENGTH = 32
# The staging label setSecret moves to the version whose password it gave the user. Only the
# rotation function (and whoever may write the secret anyway) moves it; a label is on one version
# at a time (UpdateSecretVersionStage, API reference), so it always names the last version set.
SET_LABEL = "ELASTICACHE_USER_SET"


class RotationError(Exception):
    """A step that must not go on; the message says why (it holds no password)."""


def _stages(client: Any, secret_id: str, token: str) -> dict[str, Any]:
    """The guards every step runs: DescribeSecret, rotation enabled, the token a version."""
    described = client.describe_secret(SecretId=secret_id)
    if not described.get("RotationEnabled"):
        raise RotationError(f"Secret {described.get('Name')} does not have rotation enabled.")
    versions = described.get("VersionIdsToStages", {})
    if token not in versions:
        raise RotationError(f"Version {token} of secret {described.get('Name')} has no stage; it is not rotating.")
    return dict(described)


def _value(client: Any, secret_id: str, stage: str, version: str | None = None) -> dict[str, Any]:
    arguments: dict[str, Any] = {"SecretId": secret_id, "VersionStage": stage}
    if version:
        arguments["VersionId"] = version
    text = client.get_secret_value(**arguments)["SecretString"]
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not isinstance(value.get("password"), str):
        raise RotationError(f"The {stage} version of the secret is not JSON with a password (and username, user_arn).")
    return value


def _user_id(value: dict[str, Any]) -> str:
    arn = str(value.get("user_arn") or "")
    return (arn.rsplit(":user:", 1)[-1] if ":user:" in arn else str(value.get("username") or "")).lower()


class Rotation:
    """The four steps for one invocation."""

    def __init__(self, secret_id: str, token: str, deadline: Deadline, settings: Settings) -> None:
        self.secret_id, self.token, self.deadline, self.settings = secret_id, token, deadline, settings
        self.secrets = aws_client("secretsmanager", settings.deadline_margin)
        client = elasticache_client(os.environ.get("AWS_ENDPOINT_URL_ELASTICACHE"), settings.deadline_margin)
        self.lifecycle = UserLifecycle(client, settings.schedule, settings.read_after_write_seconds)

    def _move(self, described: dict[str, Any], stage: str) -> None:
        """Put the staging label `stage` on this version, taken from the version that holds it
        (a label is on one version at a time); nothing when it is there already."""
        holder = next((v for v, s in described["VersionIdsToStages"].items() if stage in s), None)
        if holder != self.token:
            moved = {"RemoveFromVersionId": holder} if holder else {}
            self.secrets.update_secret_version_stage(
                SecretId=self.secret_id, VersionStage=stage, MoveToVersionId=self.token, **moved
            )

    def run(self, step: str) -> None:
        described = _stages(self.secrets, self.secret_id, self.token)
        labels = described["VersionIdsToStages"][self.token]
        if "AWSCURRENT" in labels:
            logger.info("version already current: nothing to do", extra={"step": step})
            return
        if "AWSPENDING" not in labels:
            raise RotationError(f"Version {self.token} is not AWSPENDING for secret {described.get('Name')}.")
        steps = {
            "createSecret": self.create,
            "setSecret": self.set,
            "testSecret": self.test,
            "finishSecret": self.finish,
        }
        if step not in steps:
            raise RotationError(f"Unknown rotation step {step[:40]!r}.")
        steps[step](described)

    def create(self, described: dict[str, Any]) -> None:
        current = _value(self.secrets, self.secret_id, "AWSCURRENT")
        if self._pending() is not None:
            logger.info("pending version exists already: kept")
            return
        password = self.secrets.get_random_password(
            PasswordLength=PASSWORD_LENGTH, ExcludeCharacters=EXCLUDED, IncludeSpace=False
        )["RandomPassword"]
        check_passwords([password], "The generated password")  # the rules the resource itself applies
        self.secrets.put_secret_value(
            SecretId=self.secret_id,
            ClientRequestToken=self.token,
            SecretString=json.dumps({**current, "password": password}),
            VersionStages=["AWSPENDING"],
        )
        logger.info("new password stored as AWSPENDING")

    def _checked(self, described: dict[str, Any]) -> tuple[str, str, str]:
        """The user and both passwords, once every safety rule holds."""
        current = _value(self.secrets, self.secret_id, "AWSCURRENT")
        pending = _value(self.secrets, self.secret_id, "AWSPENDING", self.token)
        user_id = _user_id(current)
        if not user_id or _user_id(pending) != user_id:
            raise RotationError("AWSCURRENT and AWSPENDING name different users (or none): refused.")
        self._checked_user(described, user_id)
        check_passwords([current["password"], pending["password"]], "The secret's passwords")
        return user_id, current["password"], pending["password"]

    def _pending(self) -> dict[str, Any] | None:
        """This rotation's AWSPENDING value; None while the version is still empty."""
        try:
            return _value(self.secrets, self.secret_id, "AWSPENDING", self.token)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise
            return None

    def _checked_user(self, described: dict[str, Any], user_id: str) -> None:
        """The rules about the user itself: in scope, a password user, owned, bound to this secret."""
        if not user_id.startswith(self.settings.scope.user_id_prefix):
            raise RotationError(f"User '{user_id}' is outside the provider's UserIdPrefix: refused.")
        user = self.lifecycle.settled(user_id, self.deadline)
        if user is None:
            raise RotationError(f"User '{user_id}' does not exist.")
        kind = user.get("Authentication", {}).get("Type")
        if kind != "password" or user.get("UserName") == "default":
            raise RotationError(f"User '{user_id}' is a {kind} user or a default user: its passwords are not rotated.")
        tags = self.lifecycle.tags_of(user, self.deadline)
        if tags.get(PROVIDER_TAG) != self.settings.scope.provider_id:
            raise RotationError(f"User '{user_id}' is not owned by this provider: refused.")
        if tags.get(SECRET_TAG) not in (described.get("ARN"), described.get("Name")):
            raise RotationError(f"User '{user_id}' was not declared with secret {described.get('Name')}: refused.")
        # An operator's hold: a new password would undo a lock-out done by resetting it by hand.
        if held := Ownership.hold(user_id, tags):
            raise RotationError(held)

    def set(self, described: dict[str, Any]) -> None:
        user_id, current, pending = self._checked(described)
        passwords = [current, pending] if current != pending else [pending]
        self.lifecycle.wait_until_active(user_id, self.deadline)
        self.lifecycle.modify(
            user_id, {"AuthenticationMode": {"Type": "password", "Passwords": passwords}}, self.deadline
        )
        logger.info("user now takes the current and the pending password", extra={"user_id": user_id})
        self._move(described, SET_LABEL)

    def test(self, described: dict[str, Any]) -> None:
        current, pending = _value(self.secrets, self.secret_id, "AWSCURRENT"), self._pending()
        if pending is None or pending["password"] == current["password"]:
            self._test_configuration(described, current, pending)
            return
        user_id = self._checked(described)[0]
        user = self.lifecycle.wait_until_active(user_id, self.deadline)
        count = int(user.get("Authentication", {}).get("PasswordCount", 0) or 0)
        if count != 2:  # pending differs from current: setSecret set both
            raise RotationError(f"User '{user_id}' holds {count} password(s), not the 2 setSecret sets.")
        logger.info("user active with both passwords", extra={"user_id": user_id})

    def _test_configuration(
        self, described: dict[str, Any], current: dict[str, Any], pending: dict[str, Any] | None
    ) -> None:
        """testSecret run alone (no createSecret, no setSecret before it): reads only."""
        user_id = _user_id(current)
        if not user_id or (pending is not None and _user_id(pending) != user_id):
            raise RotationError("AWSCURRENT and AWSPENDING name different users (or none): refused.")
        self._checked_user(described, user_id)
        user = self.lifecycle.wait_until_active(user_id, self.deadline)
        if int(user.get("Authentication", {}).get("PasswordCount", 0) or 0) < 1:
            raise RotationError(f"User '{user_id}' holds no password: the secret's password cannot be one of them.")
        logger.info("rotation configuration checked: nothing changed", extra={"user_id": user_id})

    def finish(self, described: dict[str, Any]) -> None:
        if SET_LABEL not in described["VersionIdsToStages"][self.token]:
            raise RotationError(
                f"finishSecret before setSecret gave the user version {self.token}'s password (the version has no "
                f"{SET_LABEL} label): AWSCURRENT stays where it is. Nothing was changed; Secrets Manager's own "
                "steps run setSecret first, or rotate the secret again."
            )
        self._move(described, "AWSCURRENT")
        logger.info("AWSCURRENT moved to the new version; the old password stays until the next rotation")


def lambda_handler(event: Any, context: Any) -> None:
    """Run one rotation step; raise (so that Secrets Manager retries) when it cannot finish."""
    quiet_libraries()
    if not isinstance(event, dict) or not all(
        isinstance(event.get(k), str) for k in ("SecretId", "ClientRequestToken", "Step")
    ):
        raise RotationError("Not a Secrets Manager rotation event.")
    settings = Settings.from_environment()
    deadline = Deadline(context.get_remaining_time_in_millis() / 1000 - settings.deadline_margin)
    logger.append_keys(step=event["Step"], secret_id=event["SecretId"][:300])
    try:
        with bounded_by(deadline):
            Rotation(event["SecretId"], event["ClientRequestToken"], deadline, settings).run(event["Step"])
    except (RotationError, UserOperationError) as error:
        logger.error("rotation step refused", extra={"reason": str(error)})
        raise
