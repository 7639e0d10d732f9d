"""Reference evaluation: AIME24, AIME25 and MATH500 against the served proposer and reasoner.

As the seed's eval.py: for each problem the proposer proposes one template (asked again, up to
--template-retries times, when it lacks the "High-Level Solution Strategy" section), the reasoner solves
the problem with its steps once, and the last \\boxed{} is checked against the reference answer: single
sample pass@1. The seed then asks an LLM judge; this program compares normalised answers instead (no
judge model needed, and the same verdict on every rerun).

Writes into --out ($FLUX_OUTPUT_DIR): metrics.json ({"aime24": {"accuracy": 0.43, "n": 30, "correct": 13}, ...})
and samples/<benchmark>.jsonl (one line per problem: template, solution, extracted and reference answer).
Exit codes: 0 written; 1 requests kept failing; 2 bad input; 4 an endpoint unreachable at start.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Optional

from .answers import check
from .openai_client import Completion, Endpoint, EndpointError
from .prompts import proposer_messages, reasoner_messages, template_steps
from .records import InputError, Problem, read_problems, write_json_atomic, write_jsonl_atomic
from .sampling import TooManyFailures, add_common_arguments, fan_out, connect_pair, request_seed, sampling_from_args

BENCHMARKS = ("aime24", "aime25", "math500")


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="evaluate",
        description="Evaluate a round's proposer and reasoner (FLUX_ENDPOINT_PROPOSER/FLUX_MODEL_PROPOSER, "
                    "FLUX_ENDPOINT_REASONER/FLUX_MODEL_REASONER) on math benchmarks.",
        epilog="example: python3 tools/evaluate.py --data-dir data/benchmarks --benchmarks aime24,aime25,math500")
    p.add_argument("--data-dir", default=os.environ.get("FLUX_BENCHMARKS_DIR", "data/benchmarks"),
                   help="folder with <benchmark>.jsonl files, as scripts/fetch-datasets.sh writes them "
                        "(default: $FLUX_BENCHMARKS_DIR or data/benchmarks)")
    p.add_argument("--benchmarks", default=",".join(BENCHMARKS), help="comma list (default aime24,aime25,math500)")
    p.add_argument("--benchmark", action="append", default=[], metavar="NAME=PATH",
                   help="a benchmark file by name (repeatable); overrides --data-dir for that name")
    p.add_argument("--limit", type=int, default=None, help="only the first N problems of each benchmark")
    p.add_argument("--template-retries", type=int, default=3, help="re-asks for a template without steps (seed: 3)")
    add_common_arguments(p)
    return p.parse_args(argv)


def benchmark_files(a: argparse.Namespace) -> dict[str, str]:
    explicit = {}
    for spec in a.benchmark:
        if "=" not in spec:
            raise InputError(f"--benchmark {spec!r}: expected NAME=PATH")
        name, path = spec.split("=", 1)
        explicit[name.strip().lower()] = path
    names = [n.strip().lower() for n in a.benchmarks.split(",") if n.strip()] if a.benchmarks else []
    files = {}
    for name in names + [n for n in explicit if n not in names]:
        path = explicit.get(name, os.path.join(a.data_dir, f"{name}.jsonl"))
        if not os.path.isfile(path):
            raise InputError(f"benchmark {name}: {path} not found (run scripts/fetch-datasets.sh, or pass --benchmark {name}=PATH)")
        files[name] = path
    if not files:
        raise InputError("no benchmarks selected")
    return files


def main(argv: Optional[list[str]] = None) -> int:
    a = parse_args(argv)
    try:
        out = a.out or os.environ.get("FLUX_OUTPUT_DIR")
        if not out:
            raise InputError("no output directory: pass --out or set FLUX_OUTPUT_DIR")
        files = benchmark_files(a)
        data = {name: read_problems(path) for name, path in files.items()}
        proposer_ep, reasoner_ep = Endpoint.from_env("PROPOSER"), Endpoint.from_env("REASONER")
    except (InputError, ValueError) as e:
        print(f"evaluate: {e}", file=sys.stderr)
        return 2
    if a.limit is not None:
        data = {k: v[: a.limit] for k, v in data.items()}
    try:
        proposer, reasoner, stop = connect_pair(a, proposer_ep, reasoner_ep)
    except EndpointError as e:
        print(f"evaluate: {e}", file=sys.stderr)
        return 4
    sp, sr = sampling_from_args(a, "proposer"), sampling_from_args(a, "reasoner")
    if a.verifier == "mentions":
        print("evaluate: --verifier mentions counts any mention of the reference answer as right: for tests with tiny "
              "random models only, never for real data", file=sys.stderr)

    def one(job: tuple[str, Problem]) -> dict[str, Any]:
        bench, p = job
        template: Optional[Completion] = None
        steps, found = "", False
        for attempt in range(max(1, a.template_retries)):
            template = proposer.chat(proposer_messages(p.problem), seed=request_seed(a.seed, "eval-propose", bench, p.id, attempt),
                                     max_tokens=sp.max_tokens, temperature=sp.temperature, top_p=sp.top_p, top_k=sp.top_k,
                                     presence_penalty=sp.presence_penalty, enable_thinking=sp.enable_thinking)
            steps, found = template_steps(template.content)
            if found:
                break
        # like the seed, a template that never has the section is used as it is (its thinking if it is empty)
        if not steps.strip() and template is not None and template.reasoning:
            steps = template.reasoning.strip()
        sol = reasoner.chat(reasoner_messages(p.problem, steps), seed=request_seed(a.seed, "eval-solve", bench, p.id),
                            max_tokens=sr.max_tokens, temperature=sr.temperature, top_p=sr.top_p, top_k=sr.top_k,
                            presence_penalty=sr.presence_penalty, enable_thinking=sr.enable_thinking)
        ok, ans = (False, None) if p.answer is None else check(sol.content or (sol.reasoning or ""), p.answer, a.verifier)
        return {"id": p.id, "problem": p.problem, "template": template.content if template else "", "steps_found": found,
                "solver_thinking": sol.reasoning, "solver_response": sol.content, "finish_reason": sol.finish_reason,
                "extracted_answer": ans, "gt_answer": p.answer, "correct": ok}

    jobs = [(bench, p) for bench, ps in data.items() for p in ps]

    def progress(done: int, total: int) -> None:
        if not a.quiet and (done == total or done % max(1, total // 10) == 0):
            print(f"evaluate: {done}/{total}", file=sys.stderr, flush=True)

    try:
        results = fan_out(one, jobs, a.concurrency, a.max_failures, progress, stop)
    except TooManyFailures as e:
        print(f"evaluate: stopped: {e}. No metrics were written; rerun when the servers are healthy.", file=sys.stderr)
        return 1
    metrics: dict[str, Any] = {}
    for bench, ps in data.items():
        rows = [r for (b, _), r in zip(jobs, results) if b == bench]
        scored = [r for r in rows if r is not None]
        correct = sum(r["correct"] for r in scored)
        metrics[bench] = {"accuracy": round(correct / len(ps), 4) if ps else 0.0, "n": len(ps), "correct": correct,
                          "failed": len(rows) - len(scored), "no_reference": sum(p.answer is None for p in ps)}
        write_jsonl_atomic(os.path.join(out, "samples", f"{bench}.jsonl"), scored)
    write_json_atomic(os.path.join(out, "metrics.json"), metrics)
    if not a.quiet:
        print("evaluate: " + ", ".join(f"{b} {m['correct']}/{m['n']} = {m['accuracy']:.3f}" for b, m in metrics.items())
              + f" (verifier {a.verifier}) in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
