#!/usr/bin/env bash
# The GPU check: the tiny pipeline (pipelines/tiny-gpu.yaml, 2 rounds, 5 stages) on ONE GPU with DeepSpeed
# ZeRO-3 and FORCE_TORCHRUN=1, then a stage SIGKILLed after its first checkpoint and run again, which must
# resume from it. Prints figures (seconds, steps, loss, samples/s, peak GPU memory per stage). Nothing in
# CI needs it.
#
# Two halves, because the GPU machine has no network and may have no node:
#   scripts/gpu-check.sh prepare [DIR]   here (node, PyPI): into DIR (default .whl): the wheels the GPU
#       machine lacks or has in an incompatible version (LLaMA-Factory 0.9.5 and the versions it was tested
#       with: transformers 5.6.0, tokenizers 0.22.2, accelerate 1.11.0, peft, trl, datasets, ...; DeepSpeed,
#       an sdist, built here into a pure-Python wheel with no ops prebuilt: ZeRO-3 with the HF optimizer
#       needs none), and gpu-check.tar.gz: the tiny model, its data and the configs that
#       `flux-train config` wrote for them (paths under /tmp/flux-gpu-check).
#   scripts/gpu-check.sh run [DIR]       on the GPU machine: installs DIR/*.whl into /tmp/site (torch stays
#       the machine's own), then drives `llamafactory-cli train` on those configs in the plan's order, as
#       the run.sh of `flux-train config` would: flux-train itself does not run there (no node).
#       Figures and logs go to $OUT (default /tmp/gpu-check-out).
# Rehearsal on a CPU machine (the script's own logic, not DeepSpeed):
#   GPU_CHECK_PIPELINE=pipelines/tiny-cpu.yaml scripts/gpu-check.sh prepare /tmp/rehearsal
#   GPU_CHECK_REHEARSAL=1 PATH=$VENV/bin:$PATH scripts/gpu-check.sh run /tmp/rehearsal
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-}
DIR=$(realpath -m "${2:-.whl}")
ROOT=/tmp/flux-gpu-check
log() { echo "gpu-check: $*"; }

prepare() {
  command -v node >/dev/null || { log "prepare needs node (it runs flux-train config)"; exit 4; }
  local venv=${LLAMAFACTORY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/flux-train/llamafactory-0.9.5-venv}
  [ -x "$venv/bin/python" ] || { log "no LLaMA-Factory venv at $venv (it makes the tiny model): bash scripts/setup-llamafactory-venv.sh"; exit 4; }
  [ -f dist/src/cli.js ] || npm run -s build
  mkdir -p "$DIR"
  rm -rf "$ROOT"
  mkdir -p "$ROOT/pipelines"
  local pipeline=${GPU_CHECK_PIPELINE:-pipelines/tiny-gpu.yaml}
  sed 's#\.\./\.cache/tiny-cpu#../.cache/tiny-gpu#' "$pipeline" > "$ROOT/pipelines/tiny-gpu.yaml"
  # the kill/resume stage: long enough to be hit after its first checkpoint (save_steps 3)
  sed -E 's/max_steps: 6([,}])/max_steps: 60\1/' "$ROOT/pipelines/tiny-gpu.yaml" > "$ROOT/pipelines/long.yaml"
  LLAMAFACTORY_VENV=$venv bash scripts/make-tiny-cpu-fixtures.sh "$ROOT/.cache/tiny-gpu" >/dev/null
  node bin/flux-train.js config --pipeline "$ROOT/pipelines/tiny-gpu.yaml" --n 2 --out "$ROOT/run" >/dev/null
  node bin/flux-train.js config --pipeline "$ROOT/pipelines/long.yaml" --n 1 --stage r1/reasoner_dpo --out "$ROOT/run-kill" >/dev/null
  tar czf "$DIR/gpu-check.tar.gz" -C / "${ROOT#/}"
  # wheels for Python 3.12 (the GPU machine's), only where that machine lacks the package or has a
  # version LLaMA-Factory 0.9.5 was not tested with; torch, numpy, safetensors, huggingface-hub stay its own
  "$venv/bin/pip" download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$DIR" \
    llamafactory==0.9.5 transformers==5.6.0 tokenizers==0.22.2 accelerate==1.11.0 peft==0.18.1 trl==0.24.0 \
    datasets==4.0.0 dill==0.3.8 multiprocess==0.70.16 fsspec==2025.3.0 omegaconf==2.4.0 regex==2026.11.19 \
    pydantic==2.12.3 pydantic_core==2.41.4 annotated-types==0.8.0 typing-inspection==0.4.5 hjson==3.1.0
  # DeepSpeed is an sdist; its setup.py imports torch, so it is built with the venv's torch and a
  # setuptools that still has bdist_wheel; DS_BUILD_OPS=0: ops are JIT-built if ever needed (ZeRO-3 with
  # the HF optimizer needs none). The newest for the GPU machine's torch 2.11; LLaMA-Factory's own upper
  # bound (0.16.9) in alt/, tried if the first stage fails with the newest.
  build_ds() {  # version, into
    [ -n "$(ls "$2"/deepspeed-"$1"-*.whl 2>/dev/null)" ] && return 0
    local bt; bt=$(mktemp -d); mkdir -p "$2"
    "$venv/bin/pip" install -q --target "$bt" wheel 'setuptools<81'
    (cd "$bt" && PYTHONPATH=$bt DS_BUILD_OPS=0 "$venv/bin/pip" wheel -q --no-deps --no-build-isolation "deepspeed==$1" -w "$2")
    rm -rf "$bt"
  }
  build_ds "${DEEPSPEED_VERSION:-0.19.8}" "$DIR"
  build_ds 0.16.9 "$DIR/alt"
  log "prepared $DIR: $(ls "$DIR"/*.whl | wc -l) wheels + gpu-check.tar.gz, $(du -sh "$DIR" | cut -f1) in all"
}

# ---------------------------------------------------------------- on the GPU machine
peak_mem_start() { (while :; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1; sleep 0.5; done) > "$1" & echo $!; }
peak_of() { sort -n "$1" | tail -1; }
figures() {  # stage output dir -> "steps loss samples/s"
  python3 - "$1" <<'EOF'
import json, sys, os
d = sys.argv[1]
r = json.load(open(os.path.join(d, "train_results.json")))
steps = json.load(open(os.path.join(d, "trainer_state.json"))).get("global_step")
print(f"steps={steps} train_loss={r.get('train_loss', float('nan')):.4f} samples_per_s={r.get('train_samples_per_second', 0):.1f} train_runtime_s={r.get('train_runtime', 0):.1f}")
EOF
}

# a process and all its descendants, from /proc (no ps needed)
tree_of() { echo "$1"; local c; for c in $(grep -l "^PPid:[[:space:]]*$1\$" /proc/[0-9]*/status 2>/dev/null | cut -d/ -f3); do tree_of "$c"; done; }
alive() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }

train() {  # run dir, config name, log -> exit code of the trainer
  (cd "$1" && FORCE_TORCHRUN=1 NPROC_PER_NODE=1 MASTER_PORT=29500 llamafactory-cli train "configs/$2.yaml") > "$3" 2>&1
}

run_check() {
  OUT=${OUT:-/tmp/gpu-check-out}
  mkdir -p "$OUT/logs"
  local t0=$SECONDS fail=0
  if [ "${GPU_CHECK_REHEARSAL:-0}" = 1 ]; then
    log "REHEARSAL: no GPU and no wheels, the python3 and llamafactory-cli on PATH"
  else
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/gpu-check: gpu: /'
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$DIR"/*.whl
    export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
  fi
  # LLaMA-Factory's launcher runs `torchrun` from PATH
  if ! command -v torchrun >/dev/null; then
    mkdir -p /tmp/site/bin && printf '#!/bin/sh\nexec python3 -m torch.distributed.run "$@"\n' > /tmp/site/bin/torchrun && chmod +x /tmp/site/bin/torchrun
    export PATH=/tmp/site/bin:$PATH
  fi
  # LLaMA-Factory 0.9.5 pins accelerate/peft/transformers ranges and checks deepspeed<=0.16.9 when it is
  # used: the versions here are the tested ones except torch (the machine's) and DeepSpeed (newer, for it)
  export DISABLE_VERSION_CHECK=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
  rm -rf "$ROOT" && tar xzf "$DIR/gpu-check.tar.gz" -C /
  python3 - <<'EOF'
import importlib.metadata as m
found = []
for d in ["torch", "transformers", "deepspeed", "accelerate", "peft", "trl", "datasets", "tokenizers", "llamafactory"]:
    try:
        found.append(f"{d} {m.version(d)}")
    except m.PackageNotFoundError:
        found.append(f"{d} MISSING")
print("gpu-check: versions:", ", ".join(found))
EOF
  if [ "${GPU_CHECK_REHEARSAL:-0}" != 1 ]; then
    python3 -c 'import torch, deepspeed; assert torch.cuda.is_available(), "torch sees no GPU"; print("gpu-check: torch", torch.__version__, "cuda", torch.version.cuda, "on", torch.cuda.get_device_name(0), "| deepspeed", deepspeed.__version__, "imports")'
  fi
  log "set-up took $((SECONDS - t0)) s"

  for cfg in r1-proposer_sft r1-proposer_dpo r1-reasoner_dpo r2-proposer_dpo r2-reasoner_dpo; do
    local key=${cfg/-//} s=$SECONDS mem pid rc=0
    mem=$(mktemp); pid=$(peak_mem_start "$mem")
    train "$ROOT/run" "$cfg" "$OUT/logs/$cfg.log" || rc=$?
    if [ $rc -ne 0 ] && [ "$cfg" = r1-proposer_sft ] && [ -n "$(ls "$DIR"/alt/deepspeed-*.whl 2>/dev/null)" ] && grep -qi deepspeed "$OUT/logs/$cfg.log"; then
      log "$key failed with DeepSpeed $(python3 -c 'import importlib.metadata as m; print(m.version("deepspeed"))') (log in gpu-check-logs.tar.gz: logs/$cfg.first.log); trying LLaMA-Factory's bound, $(basename "$DIR"/alt/deepspeed-*.whl)"
      tail -8 "$OUT/logs/$cfg.log"; mv "$OUT/logs/$cfg.log" "$OUT/logs/$cfg.first.log"
      rm -rf "$ROOT/run/outputs/r1/proposer_sft"
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$DIR"/alt/deepspeed-*.whl
      rc=0; s=$SECONDS; train "$ROOT/run" "$cfg" "$OUT/logs/$cfg.log" || rc=$?
    fi
    kill "$pid" 2>/dev/null || true
    if [ $rc -ne 0 ]; then log "$key FAILED (exit $rc) after $((SECONDS - s)) s:"; tail -25 "$OUT/logs/$cfg.log"; fail=1; break; fi
    local how=""
    grep -q 'distributed tasks at' "$OUT/logs/$cfg.log" && how+=" torchrun"
    grep -qiE 'partition_parameters|stage3\.py|DeepSpeedZeRoOffload|zero.?3|stage[ _:=]*3' "$OUT/logs/$cfg.log" && how+=" zero3"
    log "$key ok in $((SECONDS - s)) s: $(figures "$ROOT/run/outputs/$key") peak_gpu_mem_mib=$(peak_of "$mem") seen:${how:- none}"
  done

  if [ $fail = 0 ]; then
    # kill/resume: SIGKILL the whole torchrun tree after the first checkpoint, then run the stage again
    local kd=$ROOT/run-kill ck=$ROOT/run-kill/outputs/r1/reasoner_dpo/checkpoint-3 s=$SECONDS
    (cd "$kd" && FORCE_TORCHRUN=1 NPROC_PER_NODE=1 MASTER_PORT=29501 exec setsid llamafactory-cli train configs/r1-reasoner_dpo.yaml) > "$OUT/logs/kill-attempt1.log" 2>&1 &
    local lpid=$! waited=0
    until [ -f "$ck/trainer_state.json" ] || [ $waited -ge 1800 ] || ! kill -0 $lpid 2>/dev/null; do sleep 0.1; waited=$((waited + 1)); done
    if [ -f "$ck/trainer_state.json" ] && kill -0 $lpid 2>/dev/null; then
      # the whole tree, not the process group: torchrun starts its workers in sessions of their own, so a
      # group kill leaves the training running
      local pids; pids=$(tree_of $lpid)
      kill -KILL $pids 2>/dev/null || true
      wait $lpid 2>/dev/null || true
      local w=0; while alive $pids && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done
      alive $pids && { log "the trainer survived SIGKILL"; fail=1; }
      # a checkpoint cut short by the kill (no trainer_state.json yet) would be picked by the trainer: set
      # it aside, as flux-train's scheduler does
      local c; for c in "$kd"/outputs/r1/reasoner_dpo/checkpoint-*; do
        [ -f "$c/trainer_state.json" ] || { mkdir -p "$kd/quarantine"; mv "$c" "$kd/quarantine/"; log "set aside the unfinished $(basename "$c")"; }
      done
      local at; at=$(ls -d "$kd"/outputs/r1/reasoner_dpo/checkpoint-* | sed 's/.*checkpoint-//' | sort -n | tail -1)
      log "killed the trainer ($(echo $pids | wc -w) processes) with checkpoint-$at saved, after $((SECONDS - s)) s"
      s=$SECONDS
      if train "$kd" r1-reasoner_dpo "$OUT/logs/kill-attempt2.log" && grep -q "Resuming training from .*checkpoint-$at\b" "$OUT/logs/kill-attempt2.log"; then
        log "resumed: $(grep -o 'Resuming training from [^ ]*' "$OUT/logs/kill-attempt2.log" | head -1), finished in $((SECONDS - s)) s: $(figures "$kd/outputs/r1/reasoner_dpo")"
      else
        log "the rerun did not resume from checkpoint-$at:"; grep -o 'Resuming training from [^ ]*' "$OUT/logs/kill-attempt2.log"; tail -25 "$OUT/logs/kill-attempt2.log"; fail=1
      fi
    else
      log "no checkpoint-3 while the trainer ran (it ended or timed out):"; tail -25 "$OUT/logs/kill-attempt1.log"; fail=1
    fi
  fi
  tar czf "$OUT/gpu-check-logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
  log "total $((SECONDS - t0)) s; $([ $fail = 0 ] && echo PASSED || echo FAILED)"
  return $fail
}

case "$MODE" in
  prepare) prepare ;;
  run) run_check ;;
  *) echo "usage: scripts/gpu-check.sh prepare|run [DIR]   (see the head of this script)" >&2; exit 2 ;;
esac
