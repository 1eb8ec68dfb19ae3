"""The one table of the CloudWatch metrics the functions emit (powertools EMF, in the namespace
POWERTOOLS_METRICS_NAMESPACE, dimension `service` = the emitting function's
POWERTOOLS_SERVICE_NAME). The code emits these names only; template.yaml's alarms and dashboard
name them, and tests/test_alarms.py checks each one it names is one the code really printed."""

from __future__ import annotations

# The provider: one count per invocation, `<RequestType><Outcome>` (provider/cfn_resource.py
# Result: Succeeded, Failed, HandedOver, Ignored, Refused); `Request` when the event names no
# Create, Update or Delete.
REQUEST_TYPES = ("Create", "Update", "Delete")
OTHER_REQUEST = "Request"
# A request CloudFormation does not show under way (someone invoking the function with a
# forged or replayed event), counted beside its `<RequestType>Refused`.
REQUESTS_REFUSED = "RequestsRefused"
# A Create or Update whose applied-state record (Parameter Store) could not be written.
DRIFT_RECORD_FAILED = "DriftRecordFailed"
# The failure notifier answered FAILED for an invocation that ended without answering (a crash,
# out of memory, the Lambda timeout).
NOTIFIER_ANSWERED = "AnsweredByNotifier"
# The drift function: users found changed behind their stack's back, per run.
DRIFTED_USERS = "DriftedUsers"


def outcome(request_type: object, result: str) -> str:
    """The provider's per-invocation count: e.g. `DeleteHandedOver`, `RequestFailed`."""
    prefix = request_type if isinstance(request_type, str) and request_type in REQUEST_TYPES else OTHER_REQUEST
    return f"{prefix}{result}"
