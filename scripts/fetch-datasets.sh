#!/usr/bin/env bash
# Downloads the ReasonFlux-V2 datasets from the Hugging Face Hub into data/, where
# pipelines/reasonflux-v2.yaml expects them. Only data files are kept: LLaMA-Factory loads every file of
# a dataset folder and refuses mixed types ("File types should be identical."), so README.md and
# .gitattributes must not land there.
# It also fetches the benchmarks tools/evaluate.py scores every round on, as DATA_DIR/benchmarks/<name>.jsonl
# (the files the seed's eval.py vendored: s1's AIME sets and MATH-500).
#   usage: scripts/fetch-datasets.sh [DATA_DIR]   (needs `pip install -U huggingface_hub`; HF_TOKEN if gated;
#          pyarrow if a benchmark comes as parquet)
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

# benchmarks: whatever the repo stores (jsonl, json or parquet) becomes one jsonl per benchmark, columns unchanged
# (problem, answer, and id/unique_id where the set has one)
bench() {  # repo, name, split
  local raw="$DATA/benchmarks/.download-$2"
  huggingface-cli download "$1" --repo-type dataset --local-dir "$raw" --include '*.json' '*.jsonl' '*.parquet'
  python3 - "$raw" "$3" "$DATA/benchmarks/$2.jsonl" <<'PY'
import json, os, sys
raw, split, out = sys.argv[1:]
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(raw) if ".cache" not in d for f in fs
               if f.endswith((".jsonl", ".json", ".parquet")))
files = [f for f in files if split in os.path.basename(f)] or files
rows = []
for f in files:
    if f.endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            sys.exit(f"{f} is parquet: pip install pyarrow, then rerun")
        rows += pq.read_table(f).to_pylist()
    elif f.endswith(".jsonl"):
        rows += [json.loads(line) for line in open(f, encoding="utf-8") if line.strip()]
    else:
        v = json.load(open(f, encoding="utf-8"))
        rows += v if isinstance(v, list) else []
rows = [r for r in rows if isinstance(r, dict) and "problem" in r and "answer" in r]
if not rows:
    sys.exit(f"no rows with problem and answer in {files}")
with open(out, "w", encoding="utf-8") as w:
    for r in rows:
        w.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
print(f"{out}: {len(rows)} problems")
PY
  rm -rf "$raw"
}
mkdir -p "$DATA/benchmarks"
bench simplescaling/aime24_nofigures aime24 train    # 30 problems (the seed's AIME24/aime24_nofigures.jsonl)
bench simplescaling/aime25_nofigures aime25 train    # 30 problems (AIME25/aime25_nofigures.jsonl; integer answers)
bench HuggingFaceH4/MATH-500 math500 test            # 500 problems (MATH500/test.jsonl)
echo "now check the declared formats: npx flux-train validate"
