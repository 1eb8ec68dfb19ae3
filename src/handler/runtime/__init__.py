"""The runtime every function stands on, knowing nothing of CloudFormation or ElastiCache users.

- `clients.py`: the AWS clients, their timeouts and retries bounded by the time the invocation
  has left; the CloudFormation client loads `models/`, botocore's model cut to the two calls that
  confirm a request (`python -m lint.service_models` makes it and checks it).
- `deadline.py`: the time budget of one invocation, the poll schedule and the waiter.
- `environment.py`: the one table of settings (environment variables: default, bounds, meaning,
  which function reads them); the Configuration table is generated from it, and a test compares
  `template.yaml` with it by value. `config.py`: the settings read from it; `scope.py`, which users
  and groups this provider may touch (light: the CDK library's synth-time checks load it).
- `exceptions.py`: every error type, and the one table from ElastiCache error codes to reasons.
- `log.py`: the one powertools Logger every module logs through.
"""
