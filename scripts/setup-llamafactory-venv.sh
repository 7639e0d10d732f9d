#!/usr/bin/env bash
# Creates a pinned virtual environment with LLaMA-Factory (the version the pipeline image pins) and its
# dependencies from PyPI, for the local backend and `flux-train validate --with-llamafactory`.
# Cached: a second run with the same pins returns at once.
#   usage: scripts/setup-llamafactory-venv.sh [VENV_DIR]     (default .cache/llamafactory-venv)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-${LLAMAFACTORY_VENV:-.cache/llamafactory-venv}}
LF_VERSION=${LF_VERSION:-0.9.5}
# torch from PyPI (the only index reachable here); CPU execution works with the default wheel
PINS="llamafactory==${LF_VERSION} torch==${TORCH_VERSION:-2.6.0}"
stamp="$VENV/.flux-train-pins"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$PINS" ] && "$VENV/bin/llamafactory-cli" version >/dev/null 2>&1; then
  echo "llamafactory venv ready: $VENV ($PINS)"
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# shellcheck disable=SC2086
"$VENV/bin/pip" install -q $PINS
"$VENV/bin/llamafactory-cli" version >/dev/null
echo "$PINS" > "$stamp"
echo "llamafactory venv ready: $VENV ($PINS)"
