"""A minimal OpenAI-compatible chat client (standard library only) with retries and backoff.

The pipeline image has no guaranteed ``openai`` package, and the servers we talk to (sglang, vLLM,
``llamafactory-cli api``) speak the same small subset: ``GET /models`` and ``POST /chat/completions``.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Optional


class EndpointError(Exception):
    """A request that failed for good: ``retryable`` says whether retrying could have helped."""

    def __init__(self, message: str, retryable: bool, attempts: int = 1):
        super().__init__(message)
        self.retryable = retryable
        self.attempts = attempts


@dataclass(frozen=True)
class Endpoint:
    name: str  # PROPOSER, REASONER
    base_url: str  # ends with /v1
    model: str
    api_key: Optional[str] = None

    @staticmethod
    def from_env(name: str, env: Optional[dict[str, str]] = None) -> "Endpoint":
        """``FLUX_ENDPOINT_<NAME>`` and ``FLUX_MODEL_<NAME>`` (set by flux-train for a command stage's
        ``endpoints:``); ``FLUX_API_KEY_<NAME>`` optionally. Raises ValueError naming what is missing."""
        env = dict(os.environ) if env is None else env
        url = env.get(f"FLUX_ENDPOINT_{name}", "").strip()
        model = env.get(f"FLUX_MODEL_{name}", "").strip()
        missing = [v for v, val in ((f"FLUX_ENDPOINT_{name}", url), (f"FLUX_MODEL_{name}", model)) if not val]
        if missing:
            raise ValueError(
                f"{' and '.join(missing)} not set: declare `endpoints: {{{name.lower()}: <serve stage>}}` on the "
                f"command stage, or export the server's base URL (ending /v1) and served model name")
        if not (url.startswith("http://") or url.startswith("https://")):
            raise ValueError(f"FLUX_ENDPOINT_{name}={url!r} is not an http(s) URL (expected e.g. http://127.0.0.1:30000/v1)")
        return Endpoint(name, url.rstrip("/"), model, env.get(f"FLUX_API_KEY_{name}") or None)


@dataclass(frozen=True)
class Completion:
    content: str
    reasoning: Optional[str]  # sglang/vLLM reasoning parsers put the thinking here
    finish_reason: Optional[str]
    completion_tokens: Optional[int]

    def full_text(self) -> str:
        """The response as a trainable assistant turn: thinking inside <think> like Qwen3 writes it."""
        if self.reasoning:
            return f"<think>\n{self.reasoning.strip()}\n</think>\n\n{self.content.strip()}"
        return self.content


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_seconds: float = 1.0  # doubles each attempt, with jitter, capped at max_backoff
    max_backoff_seconds: float = 30.0
    timeout_seconds: float = 600.0


def _retryable_status(code: int) -> bool:
    return code >= 500 or code in (408, 409, 425, 429)


class ChatClient:
    def __init__(self, endpoint: Endpoint, policy: RetryPolicy = RetryPolicy(),
                 stop: Optional[threading.Event] = None):
        self.endpoint = endpoint
        self.policy = policy
        # set when the run gives up: requests still waiting to retry end at once
        self.stop = stop or threading.Event()
        # jitter only spreads retries in time; it never touches what is sampled or chosen
        self._jitter = random.Random()

    def _request(self, method: str, path: str, body: Optional[dict[str, Any]]) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.endpoint.api_key:
            headers["Authorization"] = f"Bearer {self.endpoint.api_key}"
        req = urllib.request.Request(self.endpoint.base_url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=self.policy.timeout_seconds) as resp:
            return json.loads(resp.read().decode("utf-8"))

    def call(self, method: str, path: str, body: Optional[dict[str, Any]] = None) -> Any:
        """One request with retries on connection errors, timeouts, 5xx/429 and unreadable replies."""
        last = ""
        for attempt in range(1, self.policy.max_attempts + 1):
            if self.stop.is_set():
                raise EndpointError(f"{self.endpoint.name.lower()} request cancelled: the run is stopping", retryable=False)
            try:
                return self._request(method, path, body)
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")[:300] if e.fp else ""
                last = f"HTTP {e.code} from {self.endpoint.base_url}{path}: {detail.strip() or e.reason}"
                if not _retryable_status(e.code):
                    raise EndpointError(last, retryable=False, attempts=attempt) from e
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError,
                    json.JSONDecodeError, UnicodeDecodeError) as e:
                reason = getattr(e, "reason", e)
                last = f"{type(reason).__name__ if not isinstance(reason, str) else 'URLError'}: {reason} ({self.endpoint.base_url}{path})"
            if attempt < self.policy.max_attempts:
                delay = min(self.policy.max_backoff_seconds, self.policy.backoff_seconds * 2 ** (attempt - 1))
                self.stop.wait(delay * (0.5 + self._jitter.random()))
        raise EndpointError(f"{self.endpoint.name.lower()} endpoint failed {self.policy.max_attempts} times; last: {last}",
                            retryable=True, attempts=self.policy.max_attempts)

    def models(self) -> list[str]:
        reply = self.call("GET", "/models")
        return [str(m.get("id")) for m in reply.get("data", []) if isinstance(m, dict)]

    def chat(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float, top_p: float,
             seed: int, top_k: Optional[int] = None, presence_penalty: Optional[float] = None,
             enable_thinking: Optional[bool] = None) -> Completion:
        body: dict[str, Any] = {
            "model": self.endpoint.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
            # honoured by vLLM and sglang; llamafactory-cli api ignores it (see docs/serving-facts.md)
            "seed": seed,
        }
        if top_k is not None:
            body["top_k"] = top_k
        if presence_penalty is not None:
            body["presence_penalty"] = presence_penalty
        if enable_thinking is not None:
            body["chat_template_kwargs"] = {"enable_thinking": enable_thinking}
        reply = self.call("POST", "/chat/completions", body)
        try:
            choice = reply["choices"][0]
            msg = choice["message"]
            usage = reply.get("usage") or {}
            return Completion(
                content=msg.get("content") or "",
                reasoning=msg.get("reasoning_content") or msg.get("reasoning") or None,
                finish_reason=choice.get("finish_reason"),
                completion_tokens=usage.get("completion_tokens"),
            )
        except (KeyError, IndexError, TypeError) as e:
            raise EndpointError(f"{self.endpoint.name.lower()} endpoint sent a reply without choices[0].message: "
                                f"{json.dumps(reply)[:300]}", retryable=False) from e
