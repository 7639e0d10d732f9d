import threading
import time
import unittest

from flux_tools.openai_client import ChatClient, Endpoint, EndpointError, RetryPolicy
from flux_tools.sampling import TooManyFailures, fan_out
from tests.scripted_server import ScriptedServer, completion

FAST = RetryPolicy(max_attempts=4, backoff_seconds=0.01, max_backoff_seconds=0.05, timeout_seconds=2.0)


def client(url: str, policy: RetryPolicy = FAST, stop=None) -> ChatClient:
    return ChatClient(Endpoint("REASONER", url, "served-name"), policy, stop)


def ask(c: ChatClient):
    return c.chat([{"role": "user", "content": "hi"}], max_tokens=8, temperature=0.7, top_p=0.8, seed=3, top_k=20,
                  presence_penalty=None, enable_thinking=True)


class Scripted:
    """Replies from a list, one per chat request; the last one repeats."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.n = 0
        self.lock = threading.Lock()

    def __call__(self, path, body):
        if path == "/v1/models":
            return None
        with self.lock:
            r = self.replies[min(self.n, len(self.replies) - 1)]
            self.n += 1
        return r


class Retries(unittest.TestCase):
    def test_5xx_and_dropped_connections_are_retried_until_an_answer(self):
        script = Scripted(("json", 500, {"detail": "boom"}), ("drop",), ("json", 503, {}), completion("ok \\boxed{1}"))
        with ScriptedServer(script) as s:
            got = ask(client(s.url))
            self.assertEqual(got.content, "ok \\boxed{1}")
            self.assertEqual(script.n, 4)
            body = s.chat_requests()[-1]
        # what the server is sent: the served model name, the seed and the sampling settings
        self.assertEqual(body["model"], "served-name")
        self.assertEqual(body["seed"], 3)
        self.assertEqual(body["top_k"], 20)
        self.assertEqual(body["chat_template_kwargs"], {"enable_thinking": True})
        self.assertNotIn("presence_penalty", body)

    def test_a_timeout_is_retried(self):
        script = Scripted(("sleep", 1.0, completion("late")), completion("on time"))
        policy = RetryPolicy(max_attempts=3, backoff_seconds=0.01, timeout_seconds=0.3)
        with ScriptedServer(script) as s:
            self.assertEqual(ask(client(s.url, policy)).content, "on time")

    def test_gives_up_after_max_attempts_with_the_last_cause(self):
        script = Scripted(("json", 502, {"detail": "bad gateway"}))
        with ScriptedServer(script) as s:
            with self.assertRaises(EndpointError) as cm:
                ask(client(s.url))
        self.assertEqual(script.n, 4)
        self.assertTrue(cm.exception.retryable)
        self.assertIn("failed 4 times", str(cm.exception))
        self.assertIn("HTTP 502", str(cm.exception))

    def test_a_4xx_is_not_retried(self):
        script = Scripted(("json", 400, {"detail": "Only supports u/a/u/a/u..."}), completion("never"))
        with ScriptedServer(script) as s:
            with self.assertRaises(EndpointError) as cm:
                ask(client(s.url))
        self.assertEqual(script.n, 1)
        self.assertFalse(cm.exception.retryable)
        self.assertIn("Only supports", str(cm.exception))

    def test_connection_refused_is_an_endpoint_error(self):
        s = ScriptedServer(Scripted(completion("x")))
        url = s.url
        s.httpd.server_close()  # the port is closed: nothing listens
        with self.assertRaises(EndpointError) as cm:
            ask(client(url))
        self.assertIn("refused", str(cm.exception).lower())

    def test_a_reply_without_choices_is_not_retried(self):
        with ScriptedServer(Scripted(("json", 200, {"error": "?"}))) as s:
            with self.assertRaises(EndpointError):
                ask(client(s.url))

    def test_reasoning_content_goes_inside_think(self):
        with ScriptedServer(Scripted(completion("The answer is \\boxed{2}.", reasoning="1+1=2"))) as s:
            got = ask(client(s.url))
        self.assertEqual(got.full_text(), "<think>\n1+1=2\n</think>\n\nThe answer is \\boxed{2}.")


class FanOut(unittest.TestCase):
    def test_results_keep_the_order_of_the_items(self):
        def slow_echo(x):
            time.sleep(0.01 * (5 - x))
            return x * 10
        self.assertEqual(fan_out(slow_echo, [0, 1, 2, 3, 4], concurrency=5, max_failures=0), [0, 10, 20, 30, 40])

    def test_stops_after_more_than_max_failures_and_cancels_the_rest(self):
        started = []

        def fails(x):
            started.append(x)
            time.sleep(0.02)  # a request takes time; the run stops before the queue drains
            raise EndpointError(f"item {x} failed", retryable=True)
        stop = threading.Event()
        with self.assertRaises(TooManyFailures) as cm:
            fan_out(fails, list(range(50)), concurrency=1, max_failures=2, stop=stop)
        self.assertTrue(stop.is_set())
        self.assertEqual(len(cm.exception.failures), 3)
        self.assertLess(len(started), 10)

    def test_failures_within_the_allowance_become_none(self):
        def odd_fails(x):
            if x % 2:
                raise EndpointError("odd", retryable=True)
            return x
        self.assertEqual(fan_out(odd_fails, [0, 1, 2, 3], concurrency=2, max_failures=2), [0, None, 2, None])


if __name__ == "__main__":
    unittest.main()
