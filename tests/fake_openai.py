"""A fake OpenAI-compatible chat server for tests and benchmarks: loopback only, bounded.

It stands in for a served model (vLLM, SGLang, a hosted API) where what matters is the
server's behaviour, not its words: a latency per request, a number of slots (requests beyond
them queue, as a busy server's do), faults drawn from a seeded generator (429 with
``Retry-After``, 500, dropped connections, requests that hang past the client's timeout), a
status for every request (401, say), and counts of what it received and answered. Answers are
deterministic: the same request body always gets the same answer, valid under the request's
JSON schema (``response_format``) when it has one, so a run through faults can be compared
with a fault-free run.

It listens on 127.0.0.1 only, answers at most ``max_requests`` requests and stops by itself
after ``lifetime_s`` seconds; use it as a context manager.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

FAULTS = ("429", "500", "drop", "timeout")


@dataclass
class FakeOpenAI:
    """The server; ``url`` is its ``/v1`` base URL once started.

    Attributes:
        latency_s: seconds each answered request takes (inside a slot).
        slots: requests processed at once; the others wait in line (None: no limit).
        faults: probability of each fault per request: ``429`` (with ``Retry-After:
            retry_after``), ``500``, ``drop`` (the connection closes without an answer),
            ``timeout`` (no answer for ``hang_s`` seconds, then the connection closes).
        status: when set, every request is answered with this HTTP status and an error body.
        seed: the faults' random generator.
        retry_after: the ``Retry-After`` header of a 429, in seconds.
        hang_s: how long a ``timeout`` fault keeps the client waiting.
        max_requests: requests answered at most; later ones get 503 and the server stops.
        lifetime_s: the server shuts itself down after this many seconds.
    """

    latency_s: float = 0.0
    slots: int | None = None
    faults: dict[str, float] = field(default_factory=dict)
    status: int | None = None
    seed: int = 0
    retry_after: str = "0.05"
    hang_s: float = 3.0
    max_requests: int = 5000
    lifetime_s: float = 600.0

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {FAULTS}")
        self.received = 0  # requests that arrived
        self.answered: Counter[str] = Counter()  # request body hash -> 200 answers sent
        self.outcomes: Counter[str] = Counter()  # "200", "429", "500", "drop", "timeout", "401" ...
        self.in_flight = 0
        self.most_in_flight = 0
        self.prompts: list[str] = []  # the last user message of each answered request
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.slots) if self.slots else None
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._timer: threading.Timer | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                server._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                server._send(self, 200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = _Quiet(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True, name="fake-openai").start()
        self._timer = threading.Timer(self.lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ requests
    def _draw(self) -> str | None:
        with self._lock:
            roll = self._rng.random()
        edge = 0.0
        for fault in FAULTS:
            edge += self.faults.get(fault, 0.0)
            if roll < edge:
                return fault
        return None

    def _handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self._lock:
            self.received += 1
            over = self.received > self.max_requests
        if over:
            self._send(handler, 503, {"error": {"message": "request budget of the fake server spent"}})
            threading.Thread(target=self.stop, daemon=True).start()
            return
        if self.status is not None:
            self._count(str(self.status))
            self._send(handler, self.status, {"error": {"message": f"fake status {self.status}",
                                                        "type": "invalid_request_error", "code": None}})
            return
        fault = self._draw()
        if fault == "drop":
            self._count("drop")
            handler.close_connection = True
            return
        if fault == "timeout":
            self._count("timeout")
            time.sleep(self.hang_s)
            handler.close_connection = True
            return
        if fault == "429":
            self._count("429")
            self._send(handler, 429, {"error": {"message": "rate limited", "type": "rate_limit", "code": None}},
                       {"Retry-After": self.retry_after})
            return
        if fault == "500":
            self._count("500")
            self._send(handler, 500, {"error": {"message": "internal error", "type": "server_error"}})
            return
        body = json.loads(raw)
        if self._slots is not None:
            self._slots.acquire()
        try:
            with self._lock:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            time.sleep(self.latency_s)
            content = answer_for(body)
        finally:
            with self._lock:
                self.in_flight -= 1
            if self._slots is not None:
                self._slots.release()
        prompt = "".join(str(m.get("content", "")) for m in body.get("messages", []))
        reply = {"id": "fake-" + digest(raw)[:12], "object": "chat.completion", "created": 0, "model": body.get("model"),
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": content}}],
                 "usage": {"prompt_tokens": max(1, len(prompt) // 4), "completion_tokens": max(1, len(content) // 4),
                           "total_tokens": max(1, len(prompt) // 4) + max(1, len(content) // 4)}}
        with self._lock:
            self.answered[digest(raw)] += 1
            self.outcomes["200"] += 1
            messages = body.get("messages") or [{}]
            self.prompts.append(str(messages[-1].get("content", "")))
        self._send(handler, 200, reply)

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1

    @staticmethod
    def _send(handler: http.server.BaseHTTPRequestHandler, status: int, body: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)


class _Quiet(http.server.ThreadingHTTPServer):
    """A client that went away (a killed run, a timed-out request) is not the server's error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def digest(data: bytes | str) -> str:
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()


def answer_for(body: dict[str, Any]) -> str:
    """The deterministic answer to a request body: an instance of its JSON schema (from
    ``response_format``) built from the prompt's hash, or a short text."""
    seed = digest(json.dumps(body.get("messages"), sort_keys=True))
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
    if schema is None:
        return f"A plain answer ({seed[:8]})."
    return json.dumps(instance(schema, random.Random(seed), schema))


WORDS = ("bright", "crowd", "music", "street", "city", "night", "dance", "voice", "colour", "motion", "screen",
         "camera", "people", "light", "outdoor", "indoor", "talk", "sport", "travel", "food")


def _text(rng: random.Random, pattern: str | None, low: int, high: int) -> str:
    for _ in range(20):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9)))
        for text in (f"Videos that show {words}", words.capitalize() + "."):
            text = text[:high] if high else text
            if len(text) >= low and (pattern is None or re.search(pattern, text)):
                return text
    return "Videos that show a bright crowd in the street"


def instance(schema: dict[str, Any], rng: random.Random, root: dict[str, Any]) -> Any:
    """A value valid under ``schema`` (the subset of JSON Schema m2t's answers use)."""
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        return instance((root.get("$defs") or root.get("definitions") or {})[name], rng, root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return instance(schema[key][0], rng, root)
    if "allOf" in schema:
        return instance({k: v for s in schema["allOf"] for k, v in s.items()}, rng, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {name: instance(sub, rng, root) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        low = schema.get("minItems", 1)
        high = max(low, min(schema.get("maxItems", low + 1), low + 2))
        items = [instance(schema.get("items") or {"type": "string"}, rng, root) for _ in range(rng.randint(low, high))]
        return list(dict.fromkeys(items)) if schema.get("uniqueItems") else items
    if kind == "integer":
        low, high = int(schema.get("minimum", 0)), int(schema.get("maximum", 10))
        return rng.randint(low, high)
    if kind == "number":
        low, high = float(schema.get("minimum", 0.0)), float(schema.get("maximum", 1.0))
        return round(rng.uniform(low, high), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _text(rng, schema.get("pattern"), int(schema.get("minLength", 0)), int(schema.get("maxLength", 0)))
