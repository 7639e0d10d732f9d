#!/usr/bin/env bash
# Quick start on a fresh (Debian, root) machine: install, start the Docker Engine, build the stand-in
# trainer image and the demo data, then run the main job: 3 rounds of the ReasonFlux-V2-shaped demo
# pipeline, every stage in its own container. On a GPU box, run `flux-train round --n 3` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/infra.sh docker
npm ci --no-audit --no-fund
bash scripts/build-test-image.sh
node scripts/make-demo-data.mjs .demo
npx flux-train round --n 3 --pipeline pipelines/demo-standin.yaml
npx flux-train status --run-dir runs/demo-standin
