"""Docker-free stand-ins for what a deployed function talks to: a Lambda context and an
HTTPS receiver standing in for CloudFormation's ResponseURL. Used by the local run, the
tests and the benchmark."""
