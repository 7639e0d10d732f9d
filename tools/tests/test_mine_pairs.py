import json
import os
import tempfile
import unittest

from flux_tools.mine_pairs import main
from flux_tools.prompts import PROMPT_EXTRACT, PROMPT_SOLVE
from tests.helpers import PROBLEMS, Countdown, Servers, run_main, scripted_reasoner, write_problems


class MinePairs(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="flux-tools-")
        self.problems = write_problems(self.dir)

    def mine(self, servers, *args, **kw):
        return run_main(main, ["--problems", self.problems, *args], servers.p.url, servers.r.url, **kw)

    def test_pairs_in_the_declared_alpaca_format_and_a_summary_that_adds_up(self):
        with Servers() as s:
            r = self.mine(s, "-k", "4", "-n", "3", "--seed", "7")
            self.assertEqual(r.code, 0, r.stderr)
            sent = s.r.chat_requests()
        prop, reas, samples, summary = r.rows("dpo_proposer.jsonl"), r.rows("dpo_reasoner.jsonl"), r.rows("samples.jsonl"), r.summary()
        self.assertGreater(len(prop), 0)
        self.assertGreater(len(reas), 0)
        for rec in prop + reas:
            # LLaMA-Factory's alpaca preference columns (the pipeline's defaults), strings only, plus the system prompt
            self.assertEqual(set(rec), {"instruction", "input", "system", "chosen", "rejected"})
            self.assertTrue(all(isinstance(v, str) for v in rec.values()))
            self.assertNotEqual(rec["chosen"], rec["rejected"])
        by_problem = {p["problem"]: p for p in PROBLEMS}
        for rec in prop:
            self.assertEqual(rec["system"], PROMPT_EXTRACT)
            self.assertIn(rec["instruction"], by_problem)
            self.assertIn("High-Level Solution Strategy", rec["chosen"])
        # the chosen template was right more often than the rejected one, by the samples themselves
        acc = {}
        for s_ in samples:
            acc[(s_["id"], s_["template"])] = sum(x["correct"] for x in s_["solutions"]) / len(s_["solutions"])
        for rec in prop:
            pid = by_problem[rec["instruction"]]["id"]
            self.assertGreater(acc[(pid, rec["chosen"])], acc[(pid, rec["rejected"])])
        for rec in reas:
            self.assertEqual(rec["system"], PROMPT_SOLVE)
            self.assertTrue(rec["instruction"].startswith("Problem:\n") and "\nHigh-Level Steps:\n1. use plan" in rec["instruction"])
            ref = by_problem[rec["instruction"].split("\n")[1]]["answer"]
            self.assertIn(f"\\boxed{{{ref}}}", rec["chosen"])
            self.assertIn("\\boxed{0.123}", rec["rejected"])
            self.assertTrue(rec["chosen"].startswith("<think>\nthinking with plan"))  # the trace stays in the response
        # the reasoner got the steps only, as the seed's eval does, with thinking on and the served model name
        self.assertTrue(all(b["model"] == "reasoner-r1" and b["chat_template_kwargs"] == {"enable_thinking": True} for b in sent))
        self.assertTrue(all("Problem Abstraction" not in b["messages"][1]["content"] for b in sent))
        self.assertEqual(summary["status"], "ok")
        self.assertEqual(summary["problems"], len(PROBLEMS))
        self.assertEqual(summary["samples"], 5 * 4 * 3)
        self.assertEqual(summary["correct"], sum(x["correct"] for s_ in samples for x in s_["solutions"]))
        self.assertEqual(summary["pairs"], {"proposer": len(prop), "reasoner": len(reas)})
        self.assertEqual(summary["skipped"].get("problem: no reference answer"), 1)
        self.assertIn({"id": "p5", "kind": "problem", "reason": "no reference answer"}, summary["skipped_problems"])
        self.assertEqual(summary["templates_without_strategy_header"], 0)

    def test_the_same_seed_gives_the_same_files_whatever_the_concurrency(self):
        with Servers() as s:
            a = self.mine(s, "--seed", "3", "--concurrency", "1")
            b = self.mine(s, "--seed", "3", "--concurrency", "8")
            c = self.mine(s, "--seed", "4", "--concurrency", "8")
        for r in (a, b, c):
            self.assertEqual(r.code, 0, r.stderr)
        for f in ("dpo_proposer.jsonl", "dpo_reasoner.jsonl", "samples.jsonl"):
            self.assertEqual(a.read(f), b.read(f), f)
        self.assertNotEqual(a.read("dpo_reasoner.jsonl"), c.read("dpo_reasoner.jsonl"))

    def test_sharegpt_and_mapped_columns(self):
        with Servers() as s:
            r = self.mine(s, "--format", "sharegpt")
            m = self.mine(s, "--columns", "prompt=question,system=")
        self.assertEqual(r.code, 0, r.stderr)
        rec = r.rows("dpo_proposer.jsonl")[0]
        self.assertEqual(set(rec), {"conversations", "chosen", "rejected"})
        # a preference conversation ends on the user turn; the answers are message objects
        self.assertEqual([t["from"] for t in rec["conversations"]], ["system", "human"])
        self.assertEqual(rec["conversations"][0]["value"], PROMPT_EXTRACT)
        self.assertEqual(rec["chosen"]["from"], "gpt")
        self.assertEqual(m.code, 0, m.stderr)
        self.assertEqual(set(m.rows("dpo_reasoner.jsonl")[0]), {"question", "input", "chosen", "rejected"})

    def test_no_pairs_is_a_failure_with_the_reason_and_no_files(self):
        with Servers(reasoner=scripted_reasoner(lambda plan, seed: True)) as s:
            r = self.mine(s)
        self.assertEqual(r.code, 1)
        self.assertIn("no proposer and no reasoner pairs", r.stderr)
        self.assertIn("every solution right", r.stderr)
        self.assertFalse(r.exists("dpo_proposer.jsonl") or r.exists("dpo_reasoner.jsonl"))
        self.assertEqual(r.summary()["status"], "failed")
        self.assertIn("proposer: every solution right", r.summary()["skipped"])

    def test_a_server_that_dies_mid_run_stops_the_run_without_pair_files(self):
        with Servers() as s:
            s.r.respond = Countdown(s.r.respond, 10, ("drop",))
            r = self.mine(s, "--concurrency", "2")
        self.assertEqual(r.code, 1)
        self.assertIn("failed after retries", r.stderr)
        self.assertFalse(r.exists("dpo_proposer.jsonl") or r.exists("dpo_reasoner.jsonl"))
        self.assertEqual(r.summary()["status"], "failed")

    def test_transient_errors_are_retried_and_change_nothing(self):
        with Servers() as s:
            clean = self.mine(s, "--seed", "5")
            state = {"n": 0}

            def every_third_fails(path, body, inner=s.r.respond):
                if path != "/v1/models":
                    state["n"] += 1
                    if state["n"] % 3 == 0:
                        return ("json", 503, {"detail": "overloaded"})
                return inner(path, body)
            s.r.respond = every_third_fails
            noisy = self.mine(s, "--seed", "5", "--concurrency", "1")
        self.assertEqual(noisy.code, 0, noisy.stderr)
        self.assertEqual(clean.read("dpo_reasoner.jsonl"), noisy.read("dpo_reasoner.jsonl"))

    def test_bad_input_exits_2_naming_the_cause(self):
        with Servers() as s:
            no_env = run_main(main, ["--problems", self.problems], s.p.url, None)
            bad = os.path.join(self.dir, "bad.jsonl")
            with open(bad, "w") as f:
                f.write('{"problem": "x", "answer": "1"}\nnot json\n')
            bad_file = self.mine(s, "--problems", bad)
            no_col = self.mine(s, "--answer-column", "solution")
            one_template = self.mine(s, "-k", "1")
        self.assertEqual(no_env.code, 2)
        self.assertIn("FLUX_ENDPOINT_REASONER and FLUX_MODEL_REASONER not set", no_env.stderr)
        self.assertEqual(bad_file.code, 2)
        self.assertIn("bad.jsonl:2: not valid JSON", bad_file.stderr)
        self.assertEqual(no_col.code, 2)
        self.assertIn("'solution' column", no_col.stderr)
        self.assertEqual(one_template.code, 2)

    def test_an_unreachable_server_exits_4(self):
        with Servers() as s:
            url = s.p.url
        r = run_main(main, ["--problems", self.problems], url, url)
        self.assertEqual(r.code, 4)
        self.assertIn("does not answer", r.stderr)


if __name__ == "__main__":
    unittest.main()
