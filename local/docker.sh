#!/usr/bin/env bash
# A Docker daemon of the project's own: `local/docker.sh start` (prints DOCKER_HOST), `stop`.
# Its data root, socket and pid live in .local-docker/. No bridge and no iptables: containers
# use the host network (only loopback addresses are ever a target).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="$PWD/.local-docker"
SOCK="$DIR/docker.sock"
case "${1:-}" in
  start)
    if [ -S "$SOCK" ] && DOCKER_HOST="unix://$SOCK" docker version >/dev/null 2>&1; then
      echo "unix://$SOCK"; exit 0
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
      echo "installing docker.io (Debian package)" >&2
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io; } >&2
    fi
    mkdir -p "$DIR/data" "$DIR/exec"
    dockerd --data-root "$DIR/data" --exec-root "$DIR/exec" --host "unix://$SOCK" --pidfile "$DIR/docker.pid" \
      --iptables=false --bridge=none >"$DIR/dockerd.log" 2>&1 &
    for _ in $(seq 60); do
      DOCKER_HOST="unix://$SOCK" docker version >/dev/null 2>&1 && { echo "unix://$SOCK"; exit 0; }
      sleep 0.5
    done
    echo "the Docker daemon did not start; its log: $DIR/dockerd.log" >&2
    tail -5 "$DIR/dockerd.log" >&2 || true
    exit 3
    ;;
  stop)
    if [ -f "$DIR/docker.pid" ]; then
      kill "$(cat "$DIR/docker.pid")" 2>/dev/null || true
      for _ in $(seq 40); do [ -f "$DIR/docker.pid" ] || break; sleep 0.25; done
    fi
    # dockerd leaves its default network namespace mounted under the exec root: release it,
    # so that the folder can be removed (make clean, a CI clone's clean-up).
    grep -o " $DIR/[^ ]*" /proc/mounts 2>/dev/null | while read -r mount; do umount -l "$mount" || true; done
    ;;
  *) echo "usage: local/docker.sh start|stop" >&2; exit 2 ;;
esac
