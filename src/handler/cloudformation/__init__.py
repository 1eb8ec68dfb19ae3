"""CloudFormation's side of a custom resource, without crhelper: the request, where it enters,
the answer, and the state a poll hand-over carries.

- `request.py`: `CfnRequest`, read once from the event, and the state a poll carries.
- `admission.py`, `provenance.py`: where a request enters, confirmed with CloudFormation before any
  action (`provenance.py`: a request and a describe function in, a verdict out), and what becomes
  of a refused one (`admission.py`).
- `outcomes.py`: `Done` / `Failed` / `Pending`, and what an action works with (`ActionContext`).
- `work.py`: `Work` (the changes still to apply to a user) and the typed state a poll resumes
  (`Converging` with its `OnFailure`, `Removing`, `Deleting`), written and read there only.
- `polling.py`: the poll hand-over's EventBridge rule, target and permission: set up, progress,
  removal, every answer checked.
- `response.py`: sending the answer to the ResponseURL: allowed hosts, 4096 bytes, bounded retries.
- `records.py`: the applied-state records in Parameter Store (what a request applied), written
  after an answer and read by the drift function.
"""
