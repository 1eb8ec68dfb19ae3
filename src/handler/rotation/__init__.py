"""The rotation function (template.yaml: RotationFunction): `app.py` runs Secrets Manager's four
rotation steps for users of this provider through ElastiCache's two password slots."""
