"""The miner and the evaluator against two real ``llamafactory-cli api`` servers on CPU (a tiny random Qwen3).

Not picked up by ``unittest discover`` (the name does not start with test): test/e2e/tools-real-server.test.ts
runs it. Needs the LLaMA-Factory venv from scripts/setup-llamafactory-venv.sh ($LLAMAFACTORY_VENV); skipped
without it, except in CI with FLUX_E2E=1, where a missing venv is a failure.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

from flux_tools import evaluate, mine_pairs
from tests.helpers import run_main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.environ.get("LLAMAFACTORY_VENV") or os.path.join(os.path.expanduser("~"), ".cache", "flux-train", "llamafactory-0.9.5-venv")
HAVE_VENV = os.path.exists(os.path.join(VENV, "bin", "llamafactory-cli"))
if not HAVE_VENV and os.environ.get("CI") == "true" and os.environ.get("FLUX_E2E") == "1":
    raise RuntimeError(f"no LLaMA-Factory venv at {VENV}: run bash scripts/setup-llamafactory-venv.sh (FLUX_E2E=1 makes this tier mandatory)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@unittest.skipUnless(HAVE_VENV, f"no LLaMA-Factory venv at {VENV}: run bash scripts/setup-llamafactory-venv.sh")
class RealServers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="flux-tools-real-")
        model = os.path.join(cls.dir, "tiny-qwen3")
        subprocess.run([os.path.join(VENV, "bin", "python"), os.path.join(ROOT, "scripts", "make-tiny-model.py"), model],
                       check=True, capture_output=True)
        with open(os.path.join(cls.dir, "infer.yaml"), "w") as f:
            f.write(f"model_name_or_path: {model}\ntemplate: qwen3\ninfer_backend: huggingface\n")
        cls.servers = {}
        for role in ("proposer", "reasoner"):
            port = free_port()
            env = dict(os.environ, API_HOST="127.0.0.1", API_PORT=str(port), API_MODEL_NAME=f"tiny-{role}")
            log = open(os.path.join(cls.dir, f"{role}.log"), "w")
            proc = subprocess.Popen([os.path.join(VENV, "bin", "llamafactory-cli"), "api", os.path.join(cls.dir, "infer.yaml")],
                                    env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            cls.servers[role] = (proc, port, log)
        deadline = time.time() + 240
        for role, (proc, port, _) in cls.servers.items():
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as r:
                        ids = [m["id"] for m in json.load(r)["data"]]
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        cls.tearDownClass()
                        raise RuntimeError(f"{role} server did not get ready; log: {cls.log_tail(role)}")
                    time.sleep(0.2)
            assert ids == [f"tiny-{role}"], ids

    @classmethod
    def log_tail(cls, role: str) -> str:
        with open(os.path.join(cls.dir, f"{role}.log")) as f:
            return f.read()[-2000:]

    @classmethod
    def tearDownClass(cls):
        for proc, port, log in cls.servers.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            log.close()
        for _, port, _ in cls.servers.values():
            assert not listening(port), f"port {port} still listening after the server stopped"
        shutil.rmtree(cls.dir, ignore_errors=True)

    def urls(self):
        return (f"http://127.0.0.1:{self.servers['proposer'][1]}/v1", f"http://127.0.0.1:{self.servers['reasoner'][1]}/v1")

    def test_the_miner_writes_pairs_from_a_tiny_random_model(self):
        problems = os.path.join(ROOT, "tools", "fixtures", "tiny-problems.jsonl")
        r = run_main(mine_pairs.main, ["--problems", problems, "--verifier", "mentions", "-k", "4", "-n", "2",
                                       "--proposer-max-tokens", "32", "--reasoner-max-tokens", "32", "--concurrency", "2"],
                     *self.urls())
        self.assertEqual(r.code, 0, r.stderr)
        summary = r.summary()
        self.assertEqual(summary["samples"], 8 * 4 * 2)
        self.assertGreater(summary["correct"], 0)
        self.assertLess(summary["correct"], summary["samples"])
        self.assertEqual(summary["pairs"], {"proposer": len(r.rows("dpo_proposer.jsonl")), "reasoner": len(r.rows("dpo_reasoner.jsonl"))})
        self.assertGreater(summary["pairs"]["proposer"], 0)
        self.assertGreater(summary["pairs"]["reasoner"], 0)
        # the model's own output, checked: a right solution mentions the reference, a wrong one does not
        for s in r.rows("samples.jsonl"):
            for sol in s["solutions"]:
                self.assertEqual(sol["correct"], sol["answer"] == s["reference"])

    def test_the_evaluator_writes_metrics(self):
        r = run_main(evaluate.main, ["--data-dir", os.path.join(ROOT, "tools", "fixtures", "benchmarks"), "--limit", "2",
                                     "--verifier", "mentions", "--template-retries", "1",
                                     "--proposer-max-tokens", "32", "--reasoner-max-tokens", "32"], *self.urls())
        self.assertEqual(r.code, 0, r.stderr)
        metrics = json.loads(r.read("metrics.json"))
        self.assertEqual(sorted(metrics), ["aime24", "aime25", "math500"])
        for m in metrics.values():
            self.assertEqual(m["n"], 2)
            self.assertEqual(m["failed"], 0)
            self.assertTrue(0.0 <= m["accuracy"] <= 1.0)


if __name__ == "__main__":
    unittest.main()
