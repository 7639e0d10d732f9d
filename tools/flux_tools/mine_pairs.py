"""Reference pair miner: the next round's DPO data from this round's proposer and reasoner.

A reference implementation, meant to be replaced: the ReasonFlux-V2 authors have not released their
data-construction code, so this is the natural scheme (../shared/reference/reasonflux.md section 2.2):

  for each problem with a reference answer:
    the proposer proposes K templates                        (system PROMPT_EXTRACT, user = problem)
    the reasoner solves the problem N times with each one   (system PROMPT_SOLVE, user = problem + steps)
    each solution is checked against the reference answer   (last \\boxed{}, normalised)
  proposer pair: the template whose solutions were right most often against the one right least often
  reasoner pair: for one (problem, template) prompt, the shortest right solution against a wrong one

Writes into --out ($FLUX_OUTPUT_DIR): dpo_proposer.jsonl, dpo_reasoner.jsonl (the pipeline's declared
preference format), samples.jsonl (every template and solution with its verdict) and summary.json.
Exit codes: 0 pairs written; 1 no pairs of a kind, or requests kept failing (summary.json says why);
2 bad input; 4 an endpoint unreachable at start.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from .answers import check
from .openai_client import Completion, Endpoint, EndpointError
from .prompts import PROMPT_EXTRACT, PROMPT_SOLVE, proposer_messages, reasoner_messages, solve_user_message, template_steps
from .records import InputError, PairFormat, Problem, parse_columns, read_problems, write_json_atomic, write_jsonl_atomic
from .sampling import (TooManyFailures, add_common_arguments, fan_out, connect_pair, request_seed,
                       sampling_from_args)


@dataclass
class Solution:
    text: str  # the assistant turn as trained on (thinking inside <think>)
    answer: Optional[str]
    correct: bool
    finish_reason: Optional[str]


@dataclass
class Template:
    text: str
    steps: str
    has_header: bool
    solutions: list[Solution] = field(default_factory=list)

    def accuracy(self) -> Optional[float]:
        if not self.solutions:
            return None
        return sum(s.correct for s in self.solutions) / len(self.solutions)


@dataclass
class Pairs:
    proposer: list[dict[str, Any]]
    reasoner: list[dict[str, Any]]
    skipped: dict[str, int]  # reason -> count (problems for the proposer, prompts for the reasoner)
    skipped_problems: list[dict[str, str]]


def pick_proposer_pair(templates: list[Template], rng: random.Random) -> tuple[Optional[tuple[Template, Template]], str]:
    """(chosen, rejected) or None with the reason: the most accurate template against the least accurate."""
    scored = [(t.accuracy(), t) for t in templates if t.accuracy() is not None]
    if len(scored) < 2:
        return None, "fewer than 2 templates were solved"
    hi = max(a for a, _ in scored)
    lo = min(a for a, _ in scored)
    if hi == lo:
        return None, "every solution right" if hi == 1 else "no solution right" if hi == 0 else "all templates equally good"
    # ties: the shorter template (the README stresses fewer tokens), then a seeded choice
    best = [t for a, t in scored if a == hi]
    shortest = min(len(t.text) for t in best)
    chosen = rng.choice([t for t in best if len(t.text) == shortest])
    worst = [t for a, t in scored if a == lo and t.text != chosen.text]
    if not worst:
        return None, "identical templates"
    return (chosen, rng.choice(worst)), ""


def pick_reasoner_pairs(t: Template, rng: random.Random, per_prompt: int) -> tuple[list[tuple[Solution, Solution]], str]:
    right = [s for s in t.solutions if s.correct]
    wrong = [s for s in t.solutions if not s.correct]
    if not t.solutions:
        return [], "not solved"
    if not right:
        return [], "no solution right"
    if not wrong:
        return [], "every solution right"
    # the shortest right solutions first (fewer tokens for the same answer), each against a seeded wrong one
    right = sorted(right, key=lambda s: len(s.text))
    pairs = []
    wrong_left = list(wrong)
    rng.shuffle(wrong_left)
    for c in right:
        if len(pairs) >= per_prompt or not wrong_left:
            break
        r = next((w for w in wrong_left if w.text != c.text), None)
        if r is None:
            break
        wrong_left.remove(r)
        pairs.append((c, r))
    return pairs, "" if pairs else "identical solutions"


def build_pairs(problems: list[Problem], templates: dict[int, list[Template]], skipped_before: dict[int, str],
                fmt_proposer: PairFormat, fmt_reasoner: PairFormat, seed: int, per_prompt: int) -> Pairs:
    proposer, reasoner = [], []
    skipped: dict[str, int] = {}
    skipped_problems: list[dict[str, str]] = []

    def skip(kind: str, reason: str, pid: Optional[str] = None) -> None:
        key = f"{kind}: {reason}"
        skipped[key] = skipped.get(key, 0) + 1
        if pid is not None:
            skipped_problems.append({"id": pid, "kind": kind, "reason": reason})

    for i, p in enumerate(problems):
        if i in skipped_before:
            skip("problem", skipped_before[i], p.id)
            continue
        ts = templates.get(i, [])
        rng = random.Random(request_seed(seed, "pairs", i))
        pair, why = pick_proposer_pair(ts, rng)
        if pair is None:
            skip("proposer", why, p.id)
        else:
            chosen, rejected = pair
            proposer.append(fmt_proposer.record(PROMPT_EXTRACT, p.problem, chosen.text, rejected.text))
        for k, t in enumerate(ts):
            rng_k = random.Random(request_seed(seed, "reasoner-pairs", i, k))
            rpairs, why = pick_reasoner_pairs(t, rng_k, per_prompt)
            if not rpairs:
                skip("reasoner", why)
            for c, r in rpairs:
                reasoner.append(fmt_reasoner.record(PROMPT_SOLVE, solve_user_message(p.problem, t.steps), c.text, r.text))
    return Pairs(proposer, reasoner, skipped, skipped_problems)


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="mine_pairs",
        description="Mine proposer and reasoner DPO pairs from the served proposer and reasoner "
                    "(FLUX_ENDPOINT_PROPOSER/FLUX_MODEL_PROPOSER, FLUX_ENDPOINT_REASONER/FLUX_MODEL_REASONER).",
        epilog="example: python3 tools/mine_pairs.py --problems data/train-problems.jsonl --templates 4 --solutions 4")
    p.add_argument("--problems", required=True, help="problems with reference answers: .jsonl or a .json list")
    p.add_argument("--problem-column", default="problem")
    p.add_argument("--answer-column", default="answer")
    p.add_argument("--id-column", default=None, help="default: id, unique_id or the row number")
    p.add_argument("--limit", type=int, default=None, help="only the first N problems (after --shuffle)")
    p.add_argument("--shuffle", action="store_true", help="shuffle the problems with the seed before --limit")
    p.add_argument("--templates", "-k", type=int, default=4, help="templates per problem (K, default 4)")
    p.add_argument("--solutions", "-n", type=int, default=4, help="reasoner solutions per template (N, default 4)")
    p.add_argument("--reasoner-pairs-per-prompt", type=int, default=1, help="default 1")
    p.add_argument("--format", default="alpaca", choices=["alpaca", "sharegpt"],
                   help="the `formatting` the pipeline declares for dpo_proposer/dpo_reasoner (default alpaca)")
    p.add_argument("--columns", default=None,
                   help="column names as the pipeline's `columns` (JSON or role=name,...); alpaca default "
                        "prompt=instruction,query=input,chosen=chosen,rejected=rejected,system=system; "
                        "system= (empty) drops the system prompt")
    p.add_argument("--proposer-file", default="dpo_proposer.jsonl")
    p.add_argument("--reasoner-file", default="dpo_reasoner.jsonl")
    add_common_arguments(p)
    return p.parse_args(argv)


def _log(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def main(argv: Optional[list[str]] = None) -> int:
    a = parse_args(argv)
    try:
        out = a.out or os.environ.get("FLUX_OUTPUT_DIR")
        if not out:
            raise InputError("no output directory: pass --out or set FLUX_OUTPUT_DIR")
        if a.templates < 2:
            raise InputError("--templates must be at least 2: a proposer pair needs two templates of one problem")
        if a.solutions < 1:
            raise InputError("--solutions must be at least 1")
        cols = parse_columns(a.columns)
        fmt = PairFormat.make(a.format, cols)
        problems = read_problems(a.problems, a.problem_column, a.answer_column, a.id_column)
        proposer_ep, reasoner_ep = Endpoint.from_env("PROPOSER"), Endpoint.from_env("REASONER")
    except (InputError, ValueError) as e:
        print(f"mine_pairs: {e}", file=sys.stderr)
        return 2
    if a.shuffle:
        random.Random(request_seed(a.seed, "shuffle")).shuffle(problems)
    if a.limit is not None:
        problems = problems[: a.limit]

    try:
        proposer, reasoner, stop = connect_pair(a, proposer_ep, reasoner_ep)
    except EndpointError as e:
        print(f"mine_pairs: {e}", file=sys.stderr)
        return 4
    sp, sr = sampling_from_args(a, "proposer"), sampling_from_args(a, "reasoner")
    if a.verifier == "mentions":
        print("mine_pairs: --verifier mentions counts any mention of the reference answer as right: for tests with tiny "
              "random models only, never for real data", file=sys.stderr)

    skipped_before: dict[int, str] = {}
    for i, p in enumerate(problems):
        if p.answer is None:
            skipped_before[i] = "no reference answer"
        elif not p.problem.strip():
            skipped_before[i] = "empty problem text"
    todo = [i for i in range(len(problems)) if i not in skipped_before]
    summary: dict[str, Any] = {
        "status": "running", "seed": a.seed, "verifier": a.verifier, "problems_file": a.problems,
        "proposer": {"endpoint": proposer_ep.base_url, "model": proposer_ep.model},
        "reasoner": {"endpoint": reasoner_ep.base_url, "model": reasoner_ep.model},
        "templates_per_problem": a.templates, "solutions_per_template": a.solutions, "format": fmt.formatting,
        "columns": fmt.columns,
    }

    def propose(job: tuple[int, int]) -> Completion:
        i, k = job
        return proposer.chat(proposer_messages(problems[i].problem), seed=request_seed(a.seed, "propose", problems[i].id, k),
                             max_tokens=sp.max_tokens, temperature=sp.temperature, top_p=sp.top_p, top_k=sp.top_k,
                             presence_penalty=sp.presence_penalty, enable_thinking=sp.enable_thinking)

    def solve(job: tuple[int, int, int]) -> Completion:
        i, k, n = job
        t = templates[i][k]
        return reasoner.chat(reasoner_messages(problems[i].problem, t.steps),
                             seed=request_seed(a.seed, "solve", problems[i].id, k, n), max_tokens=sr.max_tokens,
                             temperature=sr.temperature, top_p=sr.top_p, top_k=sr.top_k,
                             presence_penalty=sr.presence_penalty, enable_thinking=sr.enable_thinking)

    def progress(what: str):
        def report(done: int, total: int) -> None:
            if done == total or done % max(1, total // 10) == 0:
                _log(a.quiet, f"mine_pairs: {what} {done}/{total}")
        return report

    templates: dict[int, list[Template]] = {}
    try:
        jobs = [(i, k) for i in todo for k in range(a.templates)]
        proposals = fan_out(propose, jobs, a.concurrency, a.max_failures, progress("templates"), stop)
        for (i, k), c in zip(jobs, proposals):
            if c is None:
                continue  # failed for good (within --max-failures)
            steps, has_header = template_steps(c.content)
            templates.setdefault(i, []).append(Template(c.content, steps, has_header))
        sjobs = [(i, k, n) for i in todo for k in range(len(templates.get(i, []))) for n in range(a.solutions)]
        solutions = fan_out(solve, sjobs, a.concurrency, a.max_failures - sum(c is None for c in proposals),
                            progress("solutions"), stop)
    except TooManyFailures as e:
        summary.update(status="failed", reason=str(e))
        write_json_atomic(os.path.join(out, "summary.json"), summary)
        print(f"mine_pairs: stopped: {e}. No pairs were written; rerun when the servers are healthy "
              f"(or allow some with --max-failures).", file=sys.stderr)
        return 1
    for (i, k, _n), c in zip(sjobs, solutions):
        if c is None:
            continue
        ok, ans = check(c.content or (c.reasoning or ""), problems[i].answer or "", a.verifier)
        templates[i][k].solutions.append(Solution(c.full_text(), ans, ok, c.finish_reason))

    pairs = build_pairs(problems, templates, skipped_before, fmt, fmt, a.seed, a.reasoner_pairs_per_prompt)
    all_solutions = [s for ts in templates.values() for t in ts for s in t.solutions]
    summary.update(
        problems=len(problems),
        templates=sum(len(ts) for ts in templates.values()),
        templates_without_strategy_header=sum(not t.has_header for ts in templates.values() for t in ts),
        samples=len(all_solutions),
        correct=sum(s.correct for s in all_solutions),
        truncated=sum(s.finish_reason == "length" for s in all_solutions),
        failed_requests=sum(c is None for c in proposals) + sum(c is None for c in solutions),
        pairs={"proposer": len(pairs.proposer), "reasoner": len(pairs.reasoner)},
        skipped=pairs.skipped,
        skipped_problems=pairs.skipped_problems,
    )
    write_jsonl_atomic(os.path.join(out, "samples.jsonl"), (
        {"id": problems[i].id, "reference": problems[i].answer, "template_index": k, "template": t.text,
         "steps_found": t.has_header,
         "solutions": [{"text": s.text, "answer": s.answer, "correct": s.correct, "finish_reason": s.finish_reason}
                       for s in t.solutions]}
        for i in sorted(templates) for k, t in enumerate(templates[i])))
    empty = [kind for kind, rows in (("proposer", pairs.proposer), ("reasoner", pairs.reasoner)) if not rows]
    if empty:
        why = "; ".join(f"{k}: {n}" for k, n in sorted(pairs.skipped.items()))
        reason = (f"no {' and no '.join(empty)} pairs from {len(problems)} problems, {summary['samples']} solutions, "
                  f"{summary['correct']} right (verifier {a.verifier}); skipped: {why or 'nothing'}")
        summary.update(status="failed", reason=reason)
        write_json_atomic(os.path.join(out, "summary.json"), summary)
        print(f"mine_pairs: {reason}. Nothing to train on: more problems, more templates/solutions (-k/-n), "
              f"or problems nearer the models' level. Details: {os.path.join(out, 'samples.jsonl')}", file=sys.stderr)
        return 1
    write_jsonl_atomic(os.path.join(out, a.proposer_file), pairs.proposer)
    write_jsonl_atomic(os.path.join(out, a.reasoner_file), pairs.reasoner)
    summary.update(status="ok", outputs={"proposer": a.proposer_file, "reasoner": a.reasoner_file})
    write_json_atomic(os.path.join(out, "summary.json"), summary)
    _log(a.quiet, f"mine_pairs: {len(pairs.proposer)} proposer and {len(pairs.reasoner)} reasoner pairs from "
                  f"{len(problems)} problems ({summary['correct']}/{summary['samples']} solutions right) in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
