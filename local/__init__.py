"""Docker-free stand-ins for what a deployed function talks to: a Lambda context, an HTTPS
receiver standing in for CloudFormation's ResponseURL, and a stateful ElastiCache fake. Used
by the local run, the tests and the benchmark.

Importing this package puts the functions' code (src/handler, whose packages Lambda loads as
top-level packages) on the import path: the one place that does so.
"""

import sys
from pathlib import Path

HANDLER = str(Path(__file__).resolve().parent.parent / "src" / "handler")
if HANDLER not in sys.path:
    sys.path.insert(0, HANDLER)
