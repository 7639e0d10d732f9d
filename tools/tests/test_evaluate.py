import json
import os
import re
import shutil
import tempfile
import unittest

from flux_tools.evaluate import main
from tests.scripted_server import completion
from tests.helpers import Countdown, Servers, run_main

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "benchmarks")


def rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


REFS = {r["problem"]: str(r["answer"]) for name in ("aime24", "aime25", "math500") for r in rows(os.path.join(FIXTURES, f"{name}.jsonl"))}


def reasoner_right_on(problems: set):
    """Answers right (as LaTeX the normaliser must accept) on the given problems, one off elsewhere."""
    def respond(path, body):
        if path == "/v1/models":
            return None
        problem = re.match(r"Problem:\n(.*)\nHigh-Level Steps:\n", body["messages"][-1]["content"], re.S).group(1)
        ref = REFS[problem]
        ans = (f"\\dfrac{{{ref[6]}}}{{{ref[9]}}}" if ref.startswith("\\frac") else f"{ref}.0") if problem in problems else "999"
        return completion(f"Therefore the answer is $\\boxed{{{ans}}}$.")
    return respond


class Evaluate(unittest.TestCase):
    def setUp(self):
        self.right = {p for p in REFS if "1000" in p or "48}{96" in p or "29" in p}  # one per benchmark

    def test_metrics_per_benchmark_and_a_sample_file_each(self):
        with Servers(reasoner=reasoner_right_on(self.right)) as s:
            r = run_main(main, ["--data-dir", FIXTURES], s.p.url, s.r.url)
            proposals = s.p.chat_requests()
        self.assertEqual(r.code, 0, r.stderr)
        metrics = json.loads(r.read("metrics.json"))
        self.assertEqual(set(metrics), {"aime24", "aime25", "math500"})
        for name, m in metrics.items():
            self.assertEqual((m["n"], m["correct"], m["failed"]), (3, 1, 0), name)
            self.assertAlmostEqual(m["accuracy"], 1 / 3, places=3)
            samples = r.rows(os.path.join("samples", f"{name}.jsonl"))
            self.assertEqual(len(samples), 3)
            self.assertEqual(sum(x["correct"] for x in samples), 1)
            self.assertTrue(all(x["steps_found"] for x in samples))
        # pass@1: one template and one solution per problem (the scripted proposer always has the section)
        self.assertEqual(len(proposals), 9)
        self.assertTrue(all(b["chat_template_kwargs"] == {"enable_thinking": False} for b in proposals))

    def test_a_template_without_steps_is_asked_for_again(self):
        calls: dict = {}
        seeds: dict = {}

        def no_section_first(path, body):
            if path == "/v1/models":
                return None
            problem = body["messages"][-1]["content"]
            calls[problem] = calls.get(problem, 0) + 1
            seeds.setdefault(problem, set()).add(body["seed"])
            if calls[problem] < 3:
                return completion("rambling without the section")
            return completion("**High-Level Solution Strategy**\n\n1. use plan 1")
        with Servers(proposer=no_section_first, reasoner=reasoner_right_on(set())) as s:
            r = run_main(main, ["--data-dir", FIXTURES, "--benchmarks", "aime24", "--template-retries", "5"], s.p.url, s.r.url)
        self.assertEqual(r.code, 0, r.stderr)
        self.assertEqual(sorted(calls.values()), [3, 3, 3])
        self.assertTrue(all(len(v) == 3 for v in seeds.values()))  # each try samples anew
        self.assertTrue(all(x["steps_found"] for x in r.rows("samples/aime24.jsonl")))

    def test_a_missing_benchmark_file_names_the_fetch_script(self):
        with Servers() as s:
            r = run_main(main, ["--data-dir", tempfile.mkdtemp()], s.p.url, s.r.url)
        self.assertEqual(r.code, 2)
        self.assertIn("scripts/fetch-datasets.sh", r.stderr)

    def test_explicit_benchmark_files_and_limit(self):
        d = tempfile.mkdtemp()
        shutil.copy(os.path.join(FIXTURES, "aime25.jsonl"), os.path.join(d, "mine.jsonl"))
        with Servers(reasoner=reasoner_right_on(set(REFS))) as s:
            r = run_main(main, ["--benchmarks", "", "--benchmark", f"custom={d}/mine.jsonl", "--limit", "2"], s.p.url, s.r.url)
        self.assertEqual(r.code, 0, r.stderr)
        self.assertEqual(json.loads(r.read("metrics.json")), {"custom": {"accuracy": 1.0, "n": 2, "correct": 2, "failed": 0, "no_reference": 0}})

    def test_a_dead_reasoner_fails_the_run_without_metrics(self):
        with Servers(reasoner=reasoner_right_on(set())) as s:
            s.r.respond = Countdown(s.r.respond, 2, ("json", 500, {"detail": "dead"}))
            r = run_main(main, ["--data-dir", FIXTURES], s.p.url, s.r.url)
        self.assertEqual(r.code, 1)
        self.assertIn("HTTP 500", r.stderr)
        self.assertFalse(r.exists("metrics.json"))


if __name__ == "__main__":
    unittest.main()
