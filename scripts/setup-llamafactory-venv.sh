#!/usr/bin/env bash
# Creates a pinned virtual environment with LLaMA-Factory (the version the pipeline image pins) and its
# dependencies from PyPI, for the local backend and `flux-train validate --with-llamafactory`.
# Cached: a second run with the same pins returns at once.
#   usage: scripts/setup-llamafactory-venv.sh [VENV_DIR]
#   default VENV_DIR: ~/.cache/flux-train/llamafactory-<version>-venv (outside the checkout, so clones share it)
set -euo pipefail
cd "$(dirname "$0")/.."
LF_VERSION=${LF_VERSION:-0.9.5}
VENV=${1:-${LLAMAFACTORY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/flux-train/llamafactory-${LF_VERSION}-venv}}
# torch from PyPI (the only index reachable here); CPU execution works with the default wheel
# torchaudio and torchvision must match torch (a newer torchaudio needs libcudart of a newer CUDA)
PINS="llamafactory==${LF_VERSION} torch==${TORCH_VERSION:-2.6.0} torchaudio==${TORCHAUDIO_VERSION:-2.6.0} torchvision==${TORCHVISION_VERSION:-0.21.0}"
stamp="$VENV/.flux-train-pins"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$PINS" ] && "$VENV/bin/llamafactory-cli" version >/dev/null 2>&1; then
  echo "llamafactory venv ready: $VENV ($PINS)"
  exit 0
fi
mkdir -p "$(dirname "$VENV")"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# shellcheck disable=SC2086
"$VENV/bin/pip" install -q $PINS
"$VENV/bin/llamafactory-cli" version >/dev/null
echo "$PINS" > "$stamp"
echo "llamafactory venv ready: $VENV ($PINS)"
