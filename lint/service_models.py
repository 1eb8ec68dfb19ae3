"""The service models in src/handler/runtime/models/: botocore's own, cut down to the operations the
function calls (`clients.TRIMMED_OPERATIONS`), so that building their clients costs a cold start
almost nothing (clients.py says why).

    python -m lint.service_models           rewrite them from the installed botocore
    python -m lint.service_models --check   exit 1 if one differs from what botocore's model gives

A model keeps its metadata and, of its operations, those named, with every shape they reach
(input, output, errors), without documentation. The version of botocore pinned in
src/handler/requirements.txt is the one that loads them, so a bump of it is checked here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from botocore.loaders import Loader

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src" / "handler"))

from runtime import clients  # noqa: E402
from runtime.clients import TRIMMED_OPERATIONS  # noqa: E402

MODELS = clients.MODELS


def _without_documentation(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_documentation(item) for key, item in value.items() if key != "documentation"}
    if isinstance(value, list):
        return [_without_documentation(item) for item in value]
    return value


def trimmed(model: dict[str, Any], operations: tuple[str, ...]) -> dict[str, Any]:
    """`model` with only `operations` and the shapes they reach."""
    missing = set(operations) - set(model["operations"])
    if missing:
        raise SystemExit(f"botocore's {model['metadata']['serviceId']} model has no {sorted(missing)}")
    shapes: dict[str, Any] = {}

    def reach(name: str) -> None:
        if name in shapes:
            return
        shape = shapes[name] = model["shapes"][name]
        for part in ("member", "key", "value"):
            if part in shape:
                reach(shape[part]["shape"])
        for member in shape.get("members", {}).values():
            reach(member["shape"])

    kept = {name: model["operations"][name] for name in operations}
    for operation in kept.values():
        for part in ("input", "output"):
            if part in operation:
                reach(operation[part]["shape"])
        for error in operation.get("errors", []):
            reach(error["shape"])
    cut: dict[str, Any] = _without_documentation({**model, "operations": kept, "shapes": dict(sorted(shapes.items()))})
    return cut


def expected() -> dict[Path, str]:
    """Each model file as the installed botocore's models give it."""
    loader, files = Loader(), {}
    for service, operations in TRIMMED_OPERATIONS.items():
        version = loader.determine_latest_version(service, "service-2")
        model = loader.load_service_model(service, "service-2", version)
        text = json.dumps(trimmed(model, operations), indent=1) + "\n"
        files[MODELS / service / version / "service-2.json"] = text
    return files


def main(arguments: list[str]) -> int:
    files = expected()
    if "--check" in arguments:
        stale = [path for path, text in files.items() if not path.exists() or path.read_text() != text]
        stale += [path for path in MODELS.rglob("*.json") if path not in files]
        for path in stale:
            print(f"{path.relative_to(ROOT)}: not what botocore's model gives; run `python -m lint.service_models`")
        return 1 if stale else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
