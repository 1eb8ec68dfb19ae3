"""`sam` with host networking for its Lambda containers: run with SAM CLI's own interpreter
(.venv-sam/bin/python -m local.sam_local local invoke ...), never imported by the handler.

SAM CLI 1.170 puts the function's container on Docker's default bridge and reaches the
Runtime Interface Emulator through a published port; its `--docker-network host` only skips
a network connect. Here containers must use the host network (no bridge on a private range),
so container creation is adjusted: network mode host, no published port, RIE listening on
127.0.0.1 at the port SAM will call, and the environment of SAM_LOCAL_ENV (a JSON object:
loopback endpoints, dummy credentials) laid over what SAM passes, so nothing reaches AWS.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

RIE_PORT = "8080"  # SAM's RAPID_PORT_CONTAINER


def _patch_container_creation() -> None:
    from docker.models.containers import ContainerCollection

    create = ContainerCollection.create
    extra = json.loads(os.environ.get("SAM_LOCAL_ENV", "{}"))

    def create_on_host_network(self: Any, image: str, command: Any = None, **kwargs: Any) -> Any:
        if (kwargs.get("labels") or {}).get("sam.cli.container.type") == "lambda":
            port = kwargs.pop("ports", {})[RIE_PORT][1]
            kwargs["network_mode"] = "host"
            kwargs["entrypoint"] = [*kwargs["entrypoint"], "--runtime-interface-emulator-address", f"127.0.0.1:{port}"]
            kwargs["environment"] = {**(kwargs.get("environment") or {}), **extra}
        return create(self, image, command, **kwargs)

    ContainerCollection.create = create_on_host_network


def main() -> None:
    _patch_container_creation()
    from samcli.cli.main import cli

    sys.argv[0] = "sam"
    cli()


if __name__ == "__main__":
    main()
