#!/usr/bin/env bash
# Builds the Lambda-compatible image `sam local invoke --invoke-image` runs, unless it exists:
# a Debian root file system (debootstrap; trixie, whose python3 is the runtime's 3.13), the
# runtime interface client (awslambdaric, from PyPI) and /var/runtime/bootstrap, which the
# Runtime Interface Emulator that SAM CLI adds starts. No image is pulled from any registry.
# Usage: DOCKER_HOST=... local/lambda-image.sh IMAGE PIP
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=$1
PIP=$2
if docker image inspect "$IMAGE" >/dev/null 2>&1; then exit 0; fi
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "installing debootstrap (Debian package)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } >&2
fi
ROOT="$PWD/.local-image/rootfs"
rm -rf "$ROOT" && mkdir -p "$ROOT"
echo "building $IMAGE: debootstrap trixie (about a minute)" >&2
debootstrap --variant=minbase --include=python3,ca-certificates trixie "$ROOT" >"$PWD/.local-image/debootstrap.log" 2>&1 \
  || { tail -20 "$PWD/.local-image/debootstrap.log" >&2; exit 1; }
"$PIP" install -q --target "$ROOT/opt/ric" --python-version 3.13 --platform manylinux_2_17_x86_64 \
  --only-binary=:all: awslambdaric==4.2.2
mkdir -p "$ROOT/var/runtime" "$ROOT/var/task"
cat >"$ROOT/var/runtime/bootstrap" <<'BOOT'
#!/bin/sh
# The runtime: the runtime interface client, on the image's Python, for the handler in $_HANDLER.
export PYTHONPATH="${LAMBDA_TASK_ROOT:-/var/task}:/opt/ric"
exec /usr/bin/python3 -m awslambdaric "$_HANDLER"
BOOT
chmod +x "$ROOT/var/runtime/bootstrap"
tar -C "$ROOT" -c . | docker import -c 'ENV LANG=C.UTF-8' -c 'WORKDIR /var/task' - "$IMAGE" >/dev/null
rm -rf "$ROOT"
