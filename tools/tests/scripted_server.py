"""A tiny OpenAI-compatible HTTP server for the tests (standard library), driven by a Python function.

It speaks real HTTP on a real port, so the client's retries meet real 500s, dropped connections and
timeouts. What it answers is decided by ``respond(path, body)``, which returns one of:
  ("json", status, obj)       a JSON reply
  ("drop",)                   close the connection without a reply
  ("sleep", seconds, reply)   wait, then give ``reply``
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Reply = tuple


def completion(content: str, finish: str = "stop", reasoning: str | None = None) -> Reply:
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        msg["reasoning_content"] = reasoning
    return ("json", 200, {"id": "x", "object": "chat.completion", "model": "m",
                          "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
                          "usage": {"prompt_tokens": 1, "completion_tokens": len(content.split()), "total_tokens": 1}})


class ScriptedServer:
    def __init__(self, respond: Callable[[str, dict[str, Any]], Reply], model: str = "m"):
        self.respond = respond
        self.model = model
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, reply: Reply) -> None:
                kind = reply[0]
                if kind == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return
                if kind == "sleep":
                    time.sleep(reply[1])
                    return self._send(reply[2])
                _, status, obj = reply
                data = json.dumps(obj).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def do_GET(self) -> None:
                with outer.lock:
                    outer.requests.append((self.path, {}))
                if self.path == "/v1/models":
                    reply = outer.respond(self.path, {})
                    if reply is None:
                        reply = ("json", 200, {"object": "list", "data": [{"id": outer.model, "object": "model"}]})
                    self._send(reply)
                else:
                    self._send(("json", 404, {"detail": "Not Found"}))

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n) or b"{}")
                with outer.lock:
                    outer.requests.append((self.path, body))
                self._send(outer.respond(self.path, body))

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default 5 drops concurrent connects (1 s SYN retries)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def chat_requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [b for p, b in self.requests if p == "/v1/chat/completions"]

    def __enter__(self) -> "ScriptedServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
