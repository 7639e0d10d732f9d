#!/usr/bin/env bash
# Downloads the ReasonFlux-V2 datasets from the Hugging Face Hub into data/, where
# pipelines/reasonflux-v2.yaml expects them. Only data files are kept: LLaMA-Factory loads every file of
# a dataset folder and refuses mixed types ("File types should be identical."), so README.md and
# .gitattributes must not land there.
#   usage: scripts/fetch-datasets.sh [DATA_DIR]   (needs `pip install -U huggingface_hub`; HF_TOKEN if gated)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-data}
command -v huggingface-cli >/dev/null || { echo "huggingface-cli not found: pip install -U huggingface_hub" >&2; exit 1; }
fetch() {  # repo, folder
  huggingface-cli download "$1" --repo-type dataset --local-dir "$DATA/$2" --include '*.json' '*.jsonl' '*.parquet'
  rm -rf "$DATA/$2/.cache"
}
fetch Gen-Verse/ReasonFlux-V2-SFT ReasonFlux-V2-SFT                      # proposer SFT (ReasonFlux-v2-sft)
fetch Gen-Verse/ReasonFlux-V2-DPO ReasonFlux-V2-DPO                      # proposer DPO, round 1 (dpo_proposer)
fetch Gen-Verse/ReasonFlux-V2-Reasoner-DPO ReasonFlux-V2-Reasoner-DPO    # reasoner DPO, round 1 (dpo_reasoner)
echo "now check the declared formats: npx flux-train validate"
