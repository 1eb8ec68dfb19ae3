"""The drift function (template.yaml: DriftFunction): changes made to this provider's users behind
the stack's back, reported, and repaired on request.

- `app.py`: the entry: reads users, groups and records page by page under a token bucket, reports
  and publishes.
- `compare.py`: a user's applied-state record against the user as ElastiCache shows it (pure).
- `repair.py`: puts a drifted user back as its record says (both opt-ins given).
"""
