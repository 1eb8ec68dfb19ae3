"""The provider function, `Custom::ElastiCacheUser` (template.yaml: ElastiCacheUserFunction).

A Delete, from the entry point to `DeleteUser`: `app.py` → `cfn_resource.py` → `handlers.py`
(`delete`) → `elasticache/users.py` (`UserLifecycle.delete`).

- `app.py`: the Lambda entry point: start-up (GC paused), logger, metrics, the resource built
  inside a guard so that a start-up failure still answers FAILED.
- `cfn_resource.py`: the only module that imports crhelper: ResponseURL gate, one answer per
  request, outcome → answer, the poll hand-over.
- `handlers.py`: the actions `create`, `update`, `delete`, `resume`: a `CfnRequest` in, an outcome
  out; what a failure undoes and answers.
- `converge.py`: applies a `Work` (groups, ModifyUser, tags, in the order the API needs) and undoes
  a failed request's group changes; Create and Update import it, a Delete does not.
"""
