#!/usr/bin/env bash
# The tiny model and datasets pipelines/tiny-cpu.yaml reads, in .cache/tiny-cpu (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-.cache/tiny-cpu}
VENV=${LLAMAFACTORY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/flux-train/llamafactory-${LF_VERSION:-0.9.5}-venv}
[ -f "$OUT/tiny-qwen3/model.safetensors" ] || "$VENV/bin/python" scripts/make-tiny-model.py "$OUT/tiny-qwen3"
node scripts/make-demo-data.mjs "$OUT" --records 16 >/dev/null
for r in 2 3; do
  mkdir -p "$OUT/data/round$r"
  for f in dpo_proposer dpo_reasoner; do sed "s/Problem/Round $r problem/" "$OUT/data/$f.jsonl" > "$OUT/data/round$r/$f.jsonl"; done
done
echo "tiny-cpu fixtures in $OUT"
