"""Bounded-concurrency request fan-out with deterministic results, shared by the miner and the evaluator."""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, TypeVar

from .openai_client import ChatClient, Endpoint, EndpointError, RetryPolicy

T = TypeVar("T")
R = TypeVar("R")


def request_seed(seed: int, *parts: object) -> int:
    """A per-request seed from the run seed and the request's identity (problem, template, sample), so a
    request gets the same seed whatever order the threads reach the server in."""
    h = hashlib.sha256(json.dumps([seed, *parts], default=str).encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float
    top_p: float
    top_k: Optional[int]
    presence_penalty: Optional[float]
    enable_thinking: Optional[bool]


class TooManyFailures(Exception):
    def __init__(self, failures: list[tuple[int, EndpointError]], total: int):
        first = failures[0][1]
        super().__init__(f"{len(failures)} of {total} requests failed after retries (first: {first})")
        self.failures = failures


def fan_out(fn: Callable[[T], R], items: Sequence[T], concurrency: int, max_failures: int,
            progress: Optional[Callable[[int, int], None]] = None,
            stop: Optional[threading.Event] = None) -> list[Optional[R]]:
    """``fn`` over ``items`` with at most ``concurrency`` at once. Results keep the items' order; an item
    whose request failed for good is None. More than ``max_failures`` failures stop the fan-out at once
    (pending requests are cancelled) with TooManyFailures: a dead server is a stage failure, not a
    thinner data set."""
    results: list[Optional[R]] = [None] * len(items)
    failures: list[tuple[int, EndpointError]] = []
    done = 0
    pool = cf.ThreadPoolExecutor(max_workers=max(1, concurrency))
    futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
    try:
        for fut in cf.as_completed(futures):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except EndpointError as e:
                failures.append((i, e))
                if len(failures) > max_failures:
                    raise TooManyFailures(sorted(failures, key=lambda x: x[0]), len(items))
            done += 1
            if progress:
                progress(done, len(items))
    except BaseException:
        if stop is not None:
            stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=None, help="output directory (default: $FLUX_OUTPUT_DIR)")
    p.add_argument("--seed", type=int, default=0, help="run seed: request seeds, order and pair choices derive from it (default 0)")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight per run (default 16)")
    p.add_argument("--max-attempts", type=int, default=5, help="tries per request on connection errors, timeouts, 5xx (default 5)")
    p.add_argument("--backoff", type=float, default=1.0, help="first retry delay in seconds, doubling (default 1)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per request (default 1800: long reasoning traces)")
    p.add_argument("--max-failures", type=int, default=0,
                   help="requests that may fail after all retries before the run stops (default 0)")
    p.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (seed: 0.7)")
    p.add_argument("--top-p", type=float, default=0.8, help="(seed: 0.8)")
    p.add_argument("--top-k", type=int, default=20, help="(seed: 20; sent as an extra field, -1 to omit)")
    p.add_argument("--presence-penalty", type=float, default=1.5,
                   help="(seed: 1.5; llamafactory-cli api maps it to repetition_penalty; a negative value omits it)")
    p.add_argument("--proposer-max-tokens", type=int, default=16384, help="(seed: 16384)")
    p.add_argument("--reasoner-max-tokens", type=int, default=32768, help="(seed: 32768)")
    p.add_argument("--verifier", choices=["boxed", "mentions"], default="boxed",
                   help="boxed: the last \\boxed{} is the answer (the seed's rule). mentions: tests with tiny random models only (tools/README.md)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def sampling_from_args(a: argparse.Namespace, role: str) -> Sampling:
    return Sampling(
        max_tokens=a.proposer_max_tokens if role == "proposer" else a.reasoner_max_tokens,
        temperature=a.temperature,
        top_p=a.top_p,
        top_k=None if a.top_k is None or a.top_k < 0 else a.top_k,
        presence_penalty=None if a.presence_penalty is None or a.presence_penalty < 0 else a.presence_penalty,
        # the proposer is served without thinking, the reasoner with it (the seed's inference.py)
        enable_thinking=role == "reasoner",
    )


def policy_from_args(a: argparse.Namespace) -> RetryPolicy:
    return RetryPolicy(max_attempts=max(1, a.max_attempts), backoff_seconds=max(0.0, a.backoff), timeout_seconds=a.timeout)


def connect_pair(a: argparse.Namespace, proposer_ep: Endpoint, reasoner_ep: Endpoint) -> tuple[ChatClient, ChatClient, threading.Event]:
    """Clients for both endpoints, sharing one stop event, each checked to answer before any sampling starts."""
    stop = threading.Event()
    policy = policy_from_args(a)
    proposer, reasoner = ChatClient(proposer_ep, policy, stop), ChatClient(reasoner_ep, policy, stop)
    for c in (proposer, reasoner):
        try:
            c.models()
        except EndpointError as e:
            raise EndpointError(f"the {c.endpoint.name.lower()} server at {c.endpoint.base_url} does not answer: {e}", e.retryable, e.attempts) from e
    return proposer, reasoner, stop
