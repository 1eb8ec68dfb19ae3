"""ElastiCache users and groups: what the API is asked, and how long to wait for it. Nothing here
knows CloudFormation.

- `users.py`: the user lifecycle (create, modify, tag, delete, wait, ownership).
- `groups.py`: user group membership (join, leave: one group per call, read back; wait for the
  groups to settle).
- `user_spec.py`: what a user should look like, the ModifyUser arguments between two such
  descriptions, tag changes and ownership tags (pure).
- `limits.py`: ElastiCache's limits and the tag keys the resource writes (a Delete imports these,
  not the property table).
"""
