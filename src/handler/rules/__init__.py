"""The rules a request's properties must follow, pure, shared by the functions, lint rule E9101,
the CDK library's synth-time checks and the generated reference.

- `property_table.py`: the one table of properties (type, rules, update, schema, lint stand-in),
  attributes and ownership tags; validation, lint rule E9101, the reference tables and `schema/`
  all read it.
- `properties.py`: property parsing and validation (Create and Update only).
- `envelope.py`: what every request needs before any property is validated (the envelope's check,
  ownership tags, the UserId rule, `SecretReference`): light, so that a Delete imports no table.
- `access_string.py`: the engine's ACL grammar and ElastiCache's rules for access strings;
  `engine_commands.json`, the engine's command table; `engine_split.py`, how the engine splits a
  selector; `access_findings.py`, what a check says (never quoting a password).
- `secrets_source.py`: passwords kept in Secrets Manager or Parameter Store (powertools
  Parameters), checked by the same password rules.
"""
