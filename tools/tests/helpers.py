"""A scripted proposer and reasoner pair for the miner and evaluator tests, and a way to run a program's main."""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import threading
from typing import Any, Callable, Optional
from unittest import mock

from tests.scripted_server import ScriptedServer, completion

PROBLEMS = [
    {"id": "p1", "problem": "What is 2 + 2?", "answer": "4"},
    {"id": "p2", "problem": "What is half of 1?", "answer": "\\frac{1}{2}"},
    {"id": "p3", "problem": "What is 10 * 10?", "answer": "100"},
    {"id": "p4", "problem": "An angle of a square, in degrees?", "answer": "90"},
    {"id": "p5", "problem": "No reference here", "answer": ""},
    {"id": "p6", "problem": "What is 3 + 4?", "answer": "7"},
]
ANSWERS = {p["problem"]: p["answer"] for p in PROBLEMS}


def scripted_proposer(path: str, body: dict[str, Any]):
    """A template whose plan number comes from the request's seed (templates differ like samples do)."""
    if path == "/v1/models":
        return None
    plan = body["seed"] % 5
    return completion(f"**Problem Abstraction and Generalization**\nabstract\n\n**High-Level Solution Strategy**\n\n"
                      f"1. use plan {plan}\n2. check")


def scripted_reasoner(right: Callable[[int, int], bool]):
    """Solves with the reference answer when ``right(plan, seed)``, else one off; thinking in reasoning_content."""
    def respond(path: str, body: dict[str, Any]):
        if path == "/v1/models":
            return None
        user = body["messages"][-1]["content"]
        m = re.match(r"Problem:\n(.*)\nHigh-Level Steps:\n(.*)", user, re.S)
        assert m, user
        problem, steps = m.group(1), m.group(2)
        plan = int(re.search(r"use plan (\d)", steps).group(1))
        ref = ANSWERS[problem]
        ans = ref if right(plan, body["seed"]) else "0.123"
        return completion(f"So the answer is \\boxed{{{ans}}}.", reasoning=f"thinking with plan {plan} " + "x" * (body["seed"] % 7))
    return respond


def good_plans(plan: int, seed: int) -> bool:
    """Plans 0-2 usually lead to the answer, 3-4 rarely: proposer and reasoner pairs both exist."""
    return (seed % 4 != 0) if plan <= 2 else (seed % 4 == 0)


class Run:
    def __init__(self, code: int, out: str, stderr: str):
        self.code, self.out, self.stderr = code, out, stderr

    def read(self, name: str) -> str:
        with open(os.path.join(self.out, name), encoding="utf-8") as f:
            return f.read()

    def rows(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.read(name).splitlines()]

    def summary(self) -> dict[str, Any]:
        return json.loads(self.read("summary.json"))

    def exists(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.out, name))


def write_problems(d: str, rows: list[dict[str, Any]] = PROBLEMS) -> str:
    path = os.path.join(d, "problems.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


def run_main(main: Callable[[list[str]], int], args: list[str], proposer: Optional[str], reasoner: Optional[str],
             out: Optional[str] = None, extra_env: Optional[dict[str, str]] = None) -> Run:
    out = out or tempfile.mkdtemp(prefix="flux-tools-out-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUX_")}
    if proposer:
        env.update(FLUX_ENDPOINT_PROPOSER=proposer, FLUX_MODEL_PROPOSER="proposer-r1")
    if reasoner:
        env.update(FLUX_ENDPOINT_REASONER=reasoner, FLUX_MODEL_REASONER="reasoner-r1")
    env["FLUX_OUTPUT_DIR"] = out
    env.update(extra_env or {})
    err = io.StringIO()
    with mock.patch.dict(os.environ, env, clear=True), contextlib.redirect_stderr(err):
        code = main(["--quiet", "--backoff", "0.01", "--max-attempts", "3", *args])
    return Run(code, out, err.getvalue())


class Servers:
    """Proposer and reasoner scripted servers as a context manager."""

    def __init__(self, proposer=scripted_proposer, reasoner=None):
        self.p = ScriptedServer(proposer)
        self.r = ScriptedServer(reasoner or scripted_reasoner(good_plans))

    def __enter__(self) -> "Servers":
        self.p.__enter__()
        self.r.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.p.close()
        self.r.close()


class Countdown:
    """Wraps a responder: after ``n`` chat requests every reply is ``then`` (a server that dies mid-run)."""

    def __init__(self, inner, n: int, then):
        self.inner, self.n, self.then = inner, n, then
        self.lock = threading.Lock()

    def __call__(self, path, body):
        if path == "/v1/models":
            return self.inner(path, body)
        with self.lock:
            self.n -= 1
            dead = self.n < 0
        return self.then if dead else self.inner(path, body)
