"""A stand-in for Secrets Manager's version stages, served over HTTP on 127.0.0.1 (JSON 1.1, as
boto3 speaks it), for rotation: moto accepts what Secrets Manager refuses.

As the Secrets Manager API reference and rotation guide say:
- PutSecretValue with a ClientRequestToken that names an existing version: the same value is
  an idempotent retry, another value is refused (ResourceExistsException: "You can't modify
  an existing version, you can only create a new version"); VersionStages move each label
  from the version that had it;
- UpdateSecretVersionStage moves a label; moving AWSCURRENT needs RemoveFromVersionId to name
  its holder (InvalidParameterException otherwise), and that version becomes AWSPREVIOUS;
- GetSecretValue of a stage no version has: ResourceNotFoundException;
- RotateSecret starts a rotation: a version with no value yet, labelled AWSPENDING, whose id
  the steps receive as ClientRequestToken (with RotateImmediately=false Secrets Manager runs
  testSecret alone on it and then removes it: `rotation_driver.test_alone` plays that part);
- DescribeSecret reports RotationEnabled and VersionIdsToStages; GetRandomPassword honours
  ExcludeCharacters and never yields a space unless IncludeSpace.
"""

from __future__ import annotations

import json
import secrets
import string
import threading
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from local import iam_gate, iam_requests
from local.http_fake import QuietHandler, ServiceError, serve_on_loopback

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"


@dataclass
class Secret:
    name: str
    arn: str
    versions: dict[str, str | None] = field(default_factory=dict)  # version id -> value (None: not yet)
    stages: dict[str, list[str]] = field(default_factory=dict)  # version id -> labels
    rotation_enabled: bool = False
    # A customer-managed KMS key's ARN (None: the AWS-managed key, which needs no permission).
    kms_key_id: str | None = None

    def holder(self, stage: str) -> str | None:
        return next((v for v, labels in self.stages.items() if stage in labels), None)

    def move(self, stage: str, to: str) -> None:
        for labels in self.stages.values():
            if stage in labels:
                labels.remove(stage)
        self.stages.setdefault(to, []).append(stage)


@dataclass
class FakeSecrets:
    secrets: dict[str, Secret] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def add(self, name: str, value: str, rotation_enabled: bool = True, kms_key_id: str | None = None) -> Secret:
        with self.lock:
            secret = Secret(
                name, ARN + name + "-" + secrets.token_hex(3), rotation_enabled=rotation_enabled, kms_key_id=kms_key_id
            )
            version = str(uuid.uuid4())
            secret.versions[version] = value
            secret.stages[version] = ["AWSCURRENT"]
            self.secrets[name] = secret
            return secret

    def _secret(self, secret_id: str) -> Secret:
        for secret in self.secrets.values():
            if secret_id in (secret.name, secret.arn):
                return secret
        raise ServiceError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")

    def call(self, action: str, body: dict[str, Any], caller: str | None = None) -> dict[str, Any]:
        """Run one action for `caller` (a function, judged by its role's policy: local/iam_gate.py;
        None: the test itself)."""
        with self.lock:
            self.calls.append(action)
            self._authorize(action, body, caller)
            method = getattr(self, "_" + action, None)
            if method is None:
                raise ServiceError("InvalidRequestException", f"{action} is not modelled.")
            result: dict[str, Any] = method(body)
            return result

    def _authorize(self, action: str, body: dict[str, Any], caller: str | None) -> None:
        """The action on the secret; then, for a secret under a customer-managed key, what
        Secrets Manager asks KMS with the caller's credentials (kms:ViaService): Decrypt to
        read a value, GenerateDataKey to store one. KMS's refusal reaches the caller as
        AccessDeniedException "Access to KMS is not allowed"."""

        def arn_of(secret_id: str) -> str:
            found = next((s for s in self.secrets.values() if secret_id in (s.name, s.arn)), None)
            return found.arn if found else secret_id if secret_id.startswith("arn:") else ARN + secret_id

        try:
            iam_requests.authorize_all(caller, iam_requests.secrets(action, body, arn_of))
        except iam_gate.AccessDenied as denied:
            raise ServiceError("AccessDeniedException", denied.message) from denied
        secret = next((s for s in self.secrets.values() if body.get("SecretId") in (s.name, s.arn)), None)
        kms = {"GetSecretValue": "Decrypt", "PutSecretValue": "GenerateDataKey"}.get(action)
        if secret is None or secret.kms_key_id is None or kms is None:
            return
        try:
            iam_requests.authorize_all(caller, [iam_requests.kms_via_secrets_manager(kms, secret.kms_key_id)])
        except iam_gate.AccessDenied as denied:
            raise ServiceError("AccessDeniedException", "Access to KMS is not allowed") from denied

    def _DescribeSecret(self, body: dict[str, Any]) -> dict[str, Any]:
        secret = self._secret(body["SecretId"])
        return {
            "ARN": secret.arn,
            "Name": secret.name,
            "RotationEnabled": secret.rotation_enabled,
            "VersionIdsToStages": {v: list(s) for v, s in secret.stages.items() if s},
        }

    def _GetSecretValue(self, body: dict[str, Any]) -> dict[str, Any]:
        secret = self._secret(body["SecretId"])
        version = body.get("VersionId") or secret.holder(body.get("VersionStage", "AWSCURRENT"))
        stage = body.get("VersionStage")
        if (
            version not in secret.versions
            or secret.versions[version] is None
            or (stage and stage not in secret.stages.get(version, []))
        ):
            raise ServiceError(
                "ResourceNotFoundException",
                "Secrets Manager can't find the specified secret value for staging label: " + str(stage),
            )
        return {
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": version,
            "SecretString": secret.versions[version],
            "VersionStages": list(secret.stages[version]),
        }

    def _PutSecretValue(self, body: dict[str, Any]) -> dict[str, Any]:
        secret = self._secret(body["SecretId"])
        version, value = str(body.get("ClientRequestToken") or uuid.uuid4()), str(body["SecretString"])
        if secret.versions.get(version) not in (None, value):
            raise ServiceError(
                "ResourceExistsException", "You can't modify an existing version, you can only create a new version."
            )
        secret.versions[version] = value
        secret.stages.setdefault(version, [])
        for stage in body.get("VersionStages") or ["AWSCURRENT"]:
            if stage == "AWSCURRENT" and secret.holder("AWSCURRENT") not in (None, version):
                secret.move("AWSPREVIOUS", str(secret.holder("AWSCURRENT")))
            secret.move(stage, version)
        return {"ARN": secret.arn, "Name": secret.name, "VersionId": version}

    def _UpdateSecretVersionStage(self, body: dict[str, Any]) -> dict[str, Any]:
        secret = self._secret(body["SecretId"])
        stage, to, source = body["VersionStage"], body.get("MoveToVersionId"), body.get("RemoveFromVersionId")
        holder = secret.holder(stage)
        if to is not None and holder is not None and holder != to and source != holder:
            raise ServiceError(
                "InvalidParameterException",
                f"The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to "
                f"version {holder}, so you must explicitly reference that version in RemoveFromVersionId.",
            )
        if to is None and source is not None:
            # Only RemoveFromVersionId: the label leaves that version (how a configuration test's
            # AWSPENDING is removed).
            if source in secret.stages and stage in secret.stages[source]:
                secret.stages[source].remove(stage)
            return {"ARN": secret.arn, "Name": secret.name}
        if to not in secret.versions:
            raise ServiceError("ResourceNotFoundException", f"Version {to} does not exist.")
        if stage == "AWSCURRENT" and holder not in (None, to):
            secret.move("AWSPREVIOUS", str(holder))
        secret.move(stage, str(to))
        return {"ARN": secret.arn, "Name": secret.name}

    def _RotateSecret(self, body: dict[str, Any]) -> dict[str, Any]:
        """Rotation starts: a new version (no value yet) labelled AWSPENDING; the rotation
        function's steps are then invoked with its id (here: by the caller, as Secrets Manager)."""
        secret = self._secret(body["SecretId"])
        secret.rotation_enabled = True
        version = str(body.get("ClientRequestToken") or uuid.uuid4())
        secret.versions.setdefault(version, None)
        secret.move("AWSPENDING", version)
        return {"ARN": secret.arn, "Name": secret.name, "VersionId": version}

    def _GetRandomPassword(self, body: dict[str, Any]) -> dict[str, Any]:
        alphabet = [
            c
            for c in string.ascii_letters + string.digits + string.punctuation
            if c not in str(body.get("ExcludeCharacters", ""))
        ]
        if body.get("IncludeSpace"):
            alphabet.append(" ")
        return {"RandomPassword": "".join(secrets.choice(alphabet) for _ in range(int(body.get("PasswordLength", 32))))}


def _handler_for(api: FakeSecrets) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                action = self.headers.get("X-Amz-Target", "").split(".")[-1]
                status, result = 200, api.call(action, json.loads(raw), iam_gate.caller(self.headers))
            except ServiceError as error:
                status, result = error.status, error.json_body()
            self.reply(status, json.dumps(result).encode(), "application/x-amz-json-1.1")

    return Handler


def serve_secrets(api: FakeSecrets) -> AbstractContextManager[str]:
    """Serve `api` on 127.0.0.1 for the block; yields its endpoint URL."""
    return serve_on_loopback(_handler_for(api))
