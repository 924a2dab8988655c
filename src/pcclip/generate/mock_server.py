"""A loopback server speaking the OpenAI chat and completions APIs, for tests and benchmarks.

It answers every prompt deterministically after a fixed latency, counts the requests it receives
per prompt, and can misbehave on purpose: a fault rate makes that share of requests get 429 with
Retry-After, 500, a response stalled past the client's timeout, or a malformed body; the fault
"echo" (not among the defaults) answers with the request's headers, Authorization included, as a
leaky server would. Which request misbehaves depends only on (prompt, how often it was asked), so
runs are reproducible.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("429", "500", "stall", "malformed")


def default_answer(prompt: str) -> str:
    """A fixed comparison per prompt, long enough to pass the filter."""
    tag = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    return f"The first image shows its objects differently from the second image (answer {tag})."


class MockOpenAIServer:
    """Start with `with MockOpenAIServer(...) as server:`; point clients at `server.url`.

    latency_s: delay before each answer; fault_rate: share of requests that misbehave, the kinds
    drawn from `faults`; stall_s: how long a stalled response waits; retry_after: the Retry-After
    value sent with 429; api_key: if set, requests without "Bearer <api_key>" get 401; answer: text
    for a prompt (chat prompts arrive as their JSON message list), or bytes to send as the whole body.
    """

    def __init__(
        self,
        latency_s: float = 0.0,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] = FAULTS,
        stall_s: float = 2.0,
        retry_after: str = "0",
        api_key: str | None = None,
        answer: Callable[[str], str | bytes] = default_answer,
    ):
        self.latency_s, self.fault_rate, self.faults = latency_s, fault_rate, faults
        self.stall_s, self.retry_after, self.api_key, self.answer = stall_s, retry_after, api_key, answer
        self.requests: Counter[str] = Counter()  # prompt -> requests received
        self.outcomes: Counter[str] = Counter()  # "ok" or the fault served
        self.headers_seen: list[str] = []  # every header line received, for leak checks
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> MockOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _fault(self, prompt: str, nth: int) -> str | None:
        draw = int.from_bytes(hashlib.sha256(f"{nth}:{prompt}".encode()).digest()[:8], "big")
        if draw % 10_000 >= self.fault_rate * 10_000:
            return None
        return self.faults[(draw // 10_000) % len(self.faults)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet: tests read their own output
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                chat = self.path.endswith("/chat/completions")
                if not chat and not self.path.endswith("/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                prompt = json.dumps(body["messages"], ensure_ascii=False) if chat else body["prompt"]
                with server._lock:
                    server.headers_seen += [f"{k}: {v}" for k, v in self.headers.items()]
                    server.requests[prompt] += 1
                    fault = server._fault(prompt, server.requests[prompt])
                    server.outcomes[fault or "ok"] += 1
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._send(401, {"error": {"message": "invalid api key"}})
                time.sleep(server.latency_s)
                if fault == "429":
                    return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": server.retry_after})
                if fault == "500":
                    return self._send(500, {"error": {"message": "internal error"}})
                if fault == "stall":
                    time.sleep(server.stall_s)
                if fault == "malformed":
                    return self._send(200, b'{"choices": [{"tex')
                text = server.answer(prompt) if fault != "echo" else f"you sent {dict(self.headers)}"
                if isinstance(text, bytes):  # a raw body, e.g. one that is not UTF-8
                    return self._send(200, text)
                choice = {"index": 0, "finish_reason": "stop"}
                choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
                kind = "chat.completion" if chat else "text_completion"
                self._send(200, {"object": kind, "model": body["model"], "choices": [choice]})

            def _send(self, status: int, payload: dict | bytes, headers: dict[str, str] | None = None) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a stalled answer)
                    pass

        return Handler
