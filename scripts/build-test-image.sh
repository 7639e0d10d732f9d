#!/usr/bin/env bash
# Builds the test image flux-train/standin:test FROM scratch: static busybox + the stand-in trainer
# (docker/standin/llamafactory-cli) + the accepted LLaMA-Factory key list. No registry is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${TEST_IMAGE:-flux-train/standin:test}
BUSYBOX=${BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "no static busybox at $BUSYBOX: apt-get install busybox-static" >&2; exit 1; }
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$BUSYBOX" "$ctx/busybox"
cp docker/standin/Dockerfile docker/standin/llamafactory-cli "$ctx/"
node scripts/keys-list.mjs > "$ctx/keys.txt"
DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$ctx" >/dev/null 2>"$ctx/build.err" || { cat "$ctx/build.err" >&2; exit 1; }
echo "built $IMAGE"
