"""OpenAI-compatible HTTP back end: OpenAI's API, a vLLM or llama.cpp server, Google's OpenAI-compatible
endpoint. Completion-style prompts go to /completions, chat-style ones to /chat/completions.

The base URL, the model and the API key come from environment variables (their names are settings).
The key is read when a request is sent and goes into the Authorization header only: it is never in
the settings, the records, the cache key or a message (outputs and reasons are scrubbed of it as well,
in case a server echoes it).
Requests run concurrently on a bounded thread pool; 408/409/429/5xx answers, timeouts, dropped
connections and malformed bodies are retried with exponential backoff that honours Retry-After.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Literal

from pydantic import Field

from ...errors import PcclipError
from .availability import is_local, public_url, unreachable
from .base import Backend, BackendConfig, Outcome, Request

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MIN_SECRET_CHARS = 8  # shorter keys are placeholders, not scrubbed from outputs


class OpenAISettings(BackendConfig):
    backend: Literal["openai"] = "openai"
    model: str | None = Field(None, description="the model name (None: read from the variable model_env)")
    base_url: str | None = Field(None, description="e.g. http://localhost:8000/v1 (None: read from base_url_env)")
    model_env: str = "OPENAI_MODEL"
    base_url_env: str = "OPENAI_BASE_URL"
    api_key_env: str = Field("OPENAI_API_KEY", description="the variable holding the key (unset: no key is sent)")
    concurrency: int = Field(16, ge=1, le=1024, description="requests in flight at once")
    timeout_s: float = Field(60.0, gt=0, description="seconds to wait for the connection or for the server's next bytes")
    max_retries: int = Field(5, ge=0, description="retries per request after the first try")
    backoff_s: float = Field(1.0, ge=0, description="first retry delay; doubles each retry (with jitter)")
    max_backoff_s: float = Field(60.0, ge=0, description="longest wait between tries, Retry-After included")
    max_response_bytes: int = Field(1_000_000, ge=1024, description="a larger body is cut and the request fails")

    def resolved_model(self) -> str | None:
        return self.model or os.environ.get(self.model_env)

    def resolved_base_url(self) -> str:
        return (self.base_url or os.environ.get(self.base_url_env) or "https://api.openai.com/v1").rstrip("/")

    def unavailable_reason(self) -> str | None:
        if not self.resolved_model():
            return f"no model: set backend.model or the variable {self.model_env}"
        url = self.resolved_base_url()
        # A hosted API refuses every request without a key; a loopback server (vLLM, llama.cpp) may need none.
        if not is_local(url) and not os.environ.get(self.api_key_env):
            return f"the API key variable {self.api_key_env} is unset (for a server that needs none, set it to any value)"
        problem = unreachable(url)
        return f"the server at {public_url(url)} is not reachable: {problem}" if problem else None


class RequestFailed(Exception):
    """One try failed; `retry_after` is the server's Retry-After in seconds, if it sent one."""

    def __init__(self, reason: str, retryable: bool, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retryable, self.retry_after = reason, retryable, retry_after


class OpenAIBackend(Backend):
    name = "openai"
    settings: OpenAISettings

    def __init__(self, settings, decoding):
        super().__init__(settings, decoding)
        self.base_url = settings.resolved_base_url()
        model = settings.resolved_model()
        if not model:
            raise PcclipError(f"the openai back end needs a model: set backend.model or the variable {settings.model_env}")
        self._model = model
        # A loopback server is reached directly, never through a proxy set in the environment.
        proxies = urllib.request.ProxyHandler({}) if is_local(self.base_url) else urllib.request.ProxyHandler()
        self._opener = urllib.request.build_opener(proxies)

    @property
    def model(self) -> str:
        return self._model

    def provenance(self) -> dict[str, Any]:
        record = super().provenance()
        # as resolved from the environment; a URL may carry credentials, so only its public part
        record["backend"].update(base_url=public_url(self.base_url), model=self._model)
        return record

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Outcome]]:
        limit = self.settings.concurrency
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="pcclip-http") as pool:
            pending: dict[Future, int] = {}
            upcoming = iter(range(len(requests)))
            try:
                while True:
                    # A bounded window of submitted requests: memory stays flat however many pairs.
                    for index in upcoming:
                        pending[pool.submit(self._answer, requests[index])] = index
                        if len(pending) >= 2 * limit:
                            break
                    if not pending:
                        return
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        yield pending.pop(future), future.result()
            finally:  # a consumer that stops early (Ctrl-C) must not wait for the whole queue
                for future in pending:
                    future.cancel()

    def _answer(self, request: Request) -> Outcome:
        """Try, and retry what may pass next time, until an answer or a final failure."""
        s = self.settings
        attempt = 0
        while True:
            try:
                # a server may echo the request, key included, in its answer: what is stored is scrubbed
                return Outcome(text=self._scrub(self._send(request)))
            except RequestFailed as failure:
                if not failure.retryable or attempt == s.max_retries:
                    tries = f" ({attempt + 1} tries)" if attempt else ""
                    return Outcome(error=self._scrub(failure.reason + tries))
                delay = s.backoff_s * 2**attempt * random.uniform(0.5, 1.0)  # jitter spreads a burst of retries
                if failure.retry_after is not None:
                    delay = failure.retry_after
                time.sleep(min(delay, s.max_backoff_s))
                attempt += 1

    def _send(self, request: Request) -> str:
        chat = not isinstance(request.prompt, str)
        d = self.decoding
        body: dict[str, Any] = {
            "model": self._model,
            "max_tokens": d.max_new_tokens,
            "temperature": d.temperature,
            "top_p": d.top_p,
            "seed": d.seed,
            "n": 1,
        }
        body["messages" if chat else "prompt"] = list(request.prompt) if chat else request.prompt
        if d.stop:
            body["stop"] = list(d.stop)
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.settings.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = f"{self.base_url}/{'chat/completions' if chat else 'completions'}"
        http_request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
        payload = self._fetch(http_request)
        return _parse(payload, chat)

    def _fetch(self, http_request: urllib.request.Request) -> bytes:
        limit = self.settings.max_response_bytes
        try:
            with self._opener.open(http_request, timeout=self.settings.timeout_s) as response:
                payload = response.read(limit + 1)
        except urllib.error.HTTPError as e:
            with e:
                detail = e.read(300).decode("utf-8", "replace").strip().replace("\n", " ")
            raise RequestFailed(
                f"HTTP {e.code}: {detail}" if detail else f"HTTP {e.code}",
                e.code in RETRYABLE_STATUS,
                _retry_after(e.headers.get("Retry-After")),
            ) from None
        except TimeoutError:
            raise RequestFailed(f"timed out after {self.settings.timeout_s:g} s", True) from None
        except urllib.error.URLError as e:
            reason = e.reason
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise RequestFailed(f"timed out after {self.settings.timeout_s:g} s", True) from None
            raise RequestFailed(f"connection failed: {reason}", True) from None
        except (http.client.HTTPException, ConnectionError) as e:  # dropped connection, cut-off body
            raise RequestFailed(f"connection failed: {type(e).__name__}: {e}", True) from None
        if len(payload) > limit:
            raise RequestFailed(f"response larger than max_response_bytes ({limit})", False)
        return payload

    def _scrub(self, text: str) -> str:
        key = os.environ.get(self.settings.api_key_env)
        # A placeholder key for a server that needs none ("x", "EMPTY") is no secret, and replacing
        # it would mangle ordinary words in the outputs.
        return text.replace(key, "***") if key and len(key) >= MIN_SECRET_CHARS else text


def _parse(payload: bytes, chat: bool) -> str:
    """The generated text from a (chat) completion body; RequestFailed (retryable) if malformed."""
    try:
        data = json.loads(payload.decode("utf-8"))
        choice = data["choices"][0]
        text = choice["message"]["content"] if chat else choice["text"]
    except UnicodeDecodeError:
        raise RequestFailed("malformed response: body is not UTF-8", True) from None
    except json.JSONDecodeError as e:
        raise RequestFailed(f"malformed response: not JSON ({e.msg})", True) from None
    except (KeyError, IndexError, TypeError):
        raise RequestFailed("malformed response: no choices[0]." + ("message.content" if chat else "text"), True) from None
    if not isinstance(text, str):
        raise RequestFailed(f"malformed response: the text is {type(text).__name__}, not a string", True)
    return text


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
