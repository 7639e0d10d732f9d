#!/usr/bin/env python3
"""A stand-in for `llamafactory-cli api CONFIG.yaml` for tests: no torch, same contract (docs/serving-facts.md).

Strict where LLaMA-Factory is: the YAML needs model_name_or_path (a folder with config.json and weights) and
template; the model "loads" before the port is bound, so a taken port is reported after the load, exit 3;
GET /v1/models lists exactly API_MODEL_NAME (default gpt-3.5-turbo); API_HOST (default 0.0.0.0), API_PORT
(default 8000). SIGTERM ends it (by the signal, like uvicorn after its graceful shutdown).

It answers chat completions like a tiny model that is right two times in three: for "What is A op B?" it
says the right number or a wrong one, chosen by a counter, so a miner with `--verifier mentions` finds pairs.

Fault injection: a file standin-control/serve-<API_MODEL_NAME> in the working directory (the run dir) with
`load_ms=MS` (default 300), `never_ready=1` (binds, but lists no model), `die_after=N` (exit 1 after N chat
requests), `term_ms=MS` (SIGTERM ends it only after MS, like a generation in flight) and `once=1` (the fault happens in one process only; a marker file remembers it).
"""
import json
import os
import re
import signal
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def die(msg: str, code: int = 1) -> None:
    print(msg, file=sys.stderr, flush=True)
    sys.exit(code)


def read_yaml(path: str) -> dict:
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r'^([A-Za-z_][A-Za-z0-9_]*):\s*(.*)$', line.rstrip("\n"))
            if m:
                out[m.group(1)] = m.group(2).strip().strip('"').strip("'")
    return out


def control(name: str) -> dict:
    path = os.path.join("standin-control", f"serve-{name}")
    if not os.path.isfile(path):
        return {}
    opts = dict(kv.split("=", 1) for kv in open(path, encoding="utf-8").read().split() if "=" in kv)
    if opts.get("once") == "1":
        marker = path + ".fired"
        if os.path.exists(marker):
            return {k: v for k, v in opts.items() if k == "load_ms"}
        open(marker, "w").close()
    return opts


def answer(messages: list, n: int) -> str:
    text = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
    if "Problem Abstraction" in text:  # the proposer's prompt (PROMPT_EXTRACT)
        return f"High-Level Solution Strategy\n1. Read the numbers.\n2. Compute the result (variant {n % 3})."
    found = re.findall(r"What is (\d+) ([-+*/]) (\d+)", text)
    if not found:
        return "I do not know."
    a, op, b = found[-1]
    right = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b), "/": int(a) // max(1, int(b))}[op]
    # right two times in three, by prompt and request count: templates differ, and so do a prompt's samples
    return f"The result is {right if (zlib.crc32(text.encode()) + n) % 3 else right + 1}."


def main() -> None:
    if len(sys.argv) < 2 or not os.path.isfile(sys.argv[1]):
        die(f"FileNotFoundError: [Errno 2] No such file or directory: '{sys.argv[1] if len(sys.argv) > 1 else ''}'")
    cfg = read_yaml(sys.argv[1])
    model = cfg.get("model_name_or_path", "")
    if not cfg.get("template"):
        die("ValueError: Please specify `template` in the inference arguments.")
    if not os.path.isdir(model) or not os.path.isfile(os.path.join(model, "config.json")):
        die(f"OSError: Failed to load tokenizer. ({model} is not a local folder with config.json)")
    name = os.environ.get("API_MODEL_NAME", "gpt-3.5-turbo")
    host, port = os.environ.get("API_HOST", "0.0.0.0"), int(os.environ.get("API_PORT", "8000"))
    opts = control(name)
    print(f"[INFO|stand-in] loading {model}", flush=True)
    time.sleep(int(opts.get("load_ms", "300")) / 1000)
    state = {"n": 0}
    lock = threading.Lock()
    die_after = int(opts.get("die_after", "0"))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            print(f"INFO: {self.address_string()} - {fmt % args}", flush=True)

        def reply(self, status: int, obj: dict) -> None:
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.rstrip("/") != "/v1/models":
                return self.reply(404, {"detail": "Not Found"})
            listed = [] if opts.get("never_ready") == "1" else [{"id": name, "object": "model", "created": 0, "owned_by": "owner"}]
            self.reply(200, {"object": "list", "data": listed})

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self.reply(400, {"detail": "invalid JSON"})
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self.reply(404, {"detail": "Not Found"})
            with lock:
                state["n"] += 1
                n = state["n"]
            if die_after and n > die_after:
                print(f"RuntimeError: stand-in server crashed after {die_after} requests", file=sys.stderr, flush=True)
                os._exit(1)
            msgs = body.get("messages", [])
            count = max(1, int(body.get("n", 1) or 1))
            choices = [{"index": i, "message": {"role": "assistant", "content": answer(msgs, n + i)}, "finish_reason": "stop"} for i in range(count)]
            self.reply(200, {"id": f"chatcmpl-{n}", "object": "chat.completion", "model": body.get("model", name), "choices": choices,
                             "usage": {"prompt_tokens": 1, "completion_tokens": 5, "total_tokens": 6}})

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as e:
        die(f"ERROR: [Errno {e.errno}] error while attempting to bind on address ('{host}', {port}): {e.strerror.lower()}", 3)
    term_ms = int(opts.get("term_ms", "0"))

    def on_term(*_):
        # uvicorn finishes an in-flight generation before it exits: term_ms plays that wait
        print("INFO: Shutting down", flush=True)
        if term_ms:
            threading.Thread(target=lambda: (time.sleep(term_ms / 1000), os._exit(143)), daemon=True).start()
        else:
            os._exit(143)

    signal.signal(signal.SIGTERM, on_term)
    print(f"INFO: Uvicorn running on http://{host}:{port} (Press CTRL+C to quit)", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
