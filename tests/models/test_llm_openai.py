"""The ``openai`` LLM backend against a real OpenAI-compatible server on loopback.

The module fixture starts ``transformers serve <SmolLM2-135M-Instruct dir>`` (the bundled
model, ~7 s to start, ~1 GB RAM) and every request goes through the project's own code:
``CachedLLM`` -> ``load_openai_chat`` -> ``ChatOpenAI`` -> HTTP. Failure modes use sockets
made here: a port where nothing listens (server down), a listener that accepts and never
answers (timeout), and a tiny HTTP server that records each request (what goes on the wire).
"""

from __future__ import annotations

import http.server
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.errors import ConfigError, LLMError
from pipelines.models.bundled import resolve_model
from pipelines.models.llm import CachedLLM, LLMConfig
from pipelines.models.llm_openai import LOCAL_PLACEHOLDER_KEY, load_openai_chat
from tests.servers import ServerFailed, free_port, transformers_server

SECRET = "sk-secret-123"
KEY_ENV = "M2T_TEST_KEY"
HELLO = [("user", "Say hello.")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A ``transformers serve`` process pinned to the bundled SmolLM2; yields its URL and model name."""
    log = tmp_path_factory.mktemp("serve") / "server.log"
    try:
        with transformers_server(resolve_model("bundled:smollm2-135m-instruct"), log) as running:
            yield running
    except ServerFailed as exc:
        pytest.fail(str(exc))


def _llm(server: dict[str, str], cache_dir: Path, **overrides: Any) -> CachedLLM:
    cfg = {"backend": "openai", "model": server["model"], "base_url": server["base_url"], "max_tokens": 16,
           **overrides}
    return CachedLLM(LLMConfig(**cfg), cache_dir=cache_dir)


def _cache_text(cache_dir: Path) -> str:
    return "".join(p.read_text() for p in sorted((cache_dir / "llm").rglob("*.json")))


# --------------------------------------------------------------------- against the real server


def test_complete_then_cache_hit(server: dict[str, str], tmp_path: Path) -> None:
    llm = _llm(server, tmp_path)
    text = llm.complete(HELLO)
    assert isinstance(text, str) and text.strip()
    assert (llm.calls, llm.hits) == (1, 0)

    assert llm.complete(HELLO) == text
    assert (llm.calls, llm.hits) == (1, 1)
    assert len(list((tmp_path / "llm").rglob("*.json"))) == 1

    # The cache key leaves out URLs: the same request to a dead endpoint is answered from the cache.
    elsewhere = _llm(server, tmp_path, base_url=f"http://127.0.0.1:{free_port()}/v1")
    assert elsewhere.complete(HELLO) == text
    assert (elsewhere.calls, elsewhere.hits) == (0, 1)


@pytest.mark.parametrize("change", [{"temperature": 0.7}, {"max_tokens": 4}])
def test_generation_parameters_are_part_of_the_key(server: dict[str, str], tmp_path: Path,
                                                  change: dict[str, Any]) -> None:
    first = _llm(server, tmp_path, max_tokens=8)
    first.complete(HELLO)
    changed = _llm(server, tmp_path, **{"max_tokens": 8, **change})
    assert changed.complete(HELLO).strip()
    assert first.calls + changed.calls == 2 and changed.hits == 0
    assert len(list((tmp_path / "llm").rglob("*.json"))) == 2


def test_model_name_must_match_the_served_path(server: dict[str, str], tmp_path: Path) -> None:
    llm = _llm(server, tmp_path, model=server["model"] + "/")
    with pytest.raises(LLMError) as info:
        llm.complete(HELLO)
    message = str(info.value)
    # The server's reason ("Server is pinned to ...") is a FastAPI {"detail": ...} body, which the
    # openai SDK leaves out of the exception text: only the status code reaches the message.
    assert "\n" not in message and "Error code: 400" in message and server["model"] + "/" in message


def test_key_is_never_shown(server: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    llm = _llm(server, tmp_path, api_key_env=KEY_ENV)
    assert llm.complete(HELLO).strip()  # a local server ignores the key
    chat = llm.chat
    assert chat.openai_api_key.get_secret_value() == SECRET
    assert SECRET not in repr(chat) and SECRET not in str(chat) and SECRET not in chat.model_dump_json()
    from langchain_core.load import dumps

    assert SECRET not in dumps(chat)
    assert SECRET not in _cache_text(tmp_path)
    assert SECRET not in Path(server["log"]).read_text(errors="replace")

    down = _llm(server, tmp_path, api_key_env=KEY_ENV, base_url=f"http://127.0.0.1:{free_port()}/v1",
                max_tokens=3, max_retries=1, retry_wait_s=0.05)  # a dead port: one quick retry
    with pytest.raises(LLMError) as info:
        down.complete(HELLO)
    assert SECRET not in str(info.value)


# --------------------------------------------------------------------- failures, no model needed


def test_server_down_is_a_quick_one_line_llm_error(tmp_path: Path) -> None:
    cfg = LLMConfig(backend="openai", model="some-model", base_url=f"http://127.0.0.1:{free_port()}/v1",
                    max_retries=2, retry_wait_s=0.1)  # connection errors are retried: twice, quickly
    started = time.monotonic()
    with pytest.raises(LLMError) as info:
        CachedLLM(cfg, cache_dir=tmp_path).complete(HELLO)
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert "openai" in message and "some-model" in message and "Connection" in message
    assert "after 3 attempts" in message
    assert not (tmp_path / "llm").exists()  # a failure is not cached


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A loopback listener that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


def test_timeout_is_an_llm_error(silent_port: int, tmp_path: Path) -> None:
    cfg = LLMConfig(backend="openai", model="slow-model", base_url=f"http://127.0.0.1:{silent_port}/v1",
                    timeout_s=1.0, max_retries=0)  # retries are tests/models/test_llm_remote.py's
    started = time.monotonic()
    with pytest.raises(LLMError) as info:
        CachedLLM(cfg, cache_dir=tmp_path).complete(HELLO)
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"took {elapsed:.1f} s: timeout not applied"
    message = str(info.value)
    assert "\n" not in message and "slow-model" in message
    assert "timeout" in message.lower() or "timed out" in message.lower()


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Records each request and answers with a fixed chat completion."""

    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        reply = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": "recorded"}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def recorder() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_parameters_and_key_on_the_wire(recorder: tuple[str, list[dict[str, Any]]], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    url, seen = recorder
    monkeypatch.setenv(KEY_ENV, SECRET)
    cfg = LLMConfig(backend="openai", model="m", base_url=url, api_key_env=KEY_ENV, temperature=0.3, seed=7,
                    max_tokens=5)
    assert CachedLLM(cfg, cache_dir=tmp_path).complete(HELLO) == "recorded"
    (request,) = seen
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == f"Bearer {SECRET}"
    body = request["body"]
    assert body["model"] == "m" and body["temperature"] == 0.3 and body["seed"] == 7
    assert body["max_completion_tokens"] == 5  # ChatOpenAI's max_tokens goes out under this name
    assert body["messages"] == [{"role": "user", "content": "Say hello."}]


def test_local_url_without_key_sends_a_placeholder(recorder: tuple[str, list[dict[str, Any]]], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url, seen = recorder
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", url.replace("127.0.0.1", "localhost"))  # no base_url: the env's
    cfg = LLMConfig(backend="openai", model="m", api_key_env=KEY_ENV)
    assert CachedLLM(cfg, cache_dir=tmp_path).complete(HELLO) == "recorded"
    assert seen[0]["auth"] == f"Bearer {LOCAL_PLACEHOLDER_KEY}"


def test_missing_key_for_a_remote_url_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError) as info:
        load_openai_chat("gpt-x", base_url="https://api.example.com/v1", api_key_env=KEY_ENV)
    message = str(info.value)
    assert KEY_ENV in message and "\n" not in message

    cfg = LLMConfig(backend="openai", model="gpt-x", base_url="https://api.example.com/v1", api_key_env=KEY_ENV)
    with pytest.raises(ConfigError, match=KEY_ENV):  # through the project's path too, not wrapped as LLMError
        CachedLLM(cfg, cache_dir=tmp_path).complete(HELLO)

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)  # no URL at all means OpenAI's: a key is needed
    with pytest.raises(ConfigError, match=KEY_ENV):
        load_openai_chat("gpt-x", api_key_env=KEY_ENV)


def test_bad_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="http"):
        load_openai_chat("m", base_url="127.0.0.1:8000/v1")


SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": ["a", "b"]}}, "required": ["label"]}


class _Refuser(_Recorder):
    """Answers 400 to a request with ``response_format`` (as servers without structured output do)."""

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        if "response_format" not in body:
            self.rfile = io.BytesIO(json.dumps(body).encode())
            self.headers.replace_header("Content-Length", str(len(json.dumps(body).encode())))
            return _Recorder.do_POST(self)
        self.seen.append({"path": self.path, "body": body})
        reply = json.dumps({"error": {"message": "response_format is not supported", "type": "invalid_request"}}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


def test_a_schema_goes_out_as_response_format(recorder: tuple[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    url, seen = recorder
    llm = CachedLLM(LLMConfig(backend="openai", model="m", base_url=url), cache_dir=tmp_path)
    assert llm.complete(HELLO, SCHEMA) == "recorded"
    sent = seen[0]["body"]["response_format"]
    # closed: a key the schema does not name is not admitted (pipelines.models.llm.closed_schema)
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"] == {**SCHEMA, "additionalProperties": False}
    assert llm.notes == []


def test_a_server_that_refuses_response_format_gets_the_plain_request_and_one_note(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (_Refuser,), {"seen": seen})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        llm = CachedLLM(LLMConfig(backend="openai", model="m", base_url=url), cache_dir=tmp_path)
        assert llm.complete(HELLO, SCHEMA) == "recorded"
        assert llm.complete([("user", "Say hello again.")], SCHEMA) == "recorded"
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert ["response_format" in s["body"] for s in seen] == [True, False, False]  # refused once, then plain
    (note,) = llm.notes
    assert "refused response_format" in note and url in note


def test_the_real_server_accepts_the_response_format_request(server: dict[str, str], tmp_path: Path) -> None:
    """`transformers serve` validates the request body: a malformed response_format would be
    refused (400/422) and noted. It takes ours (it does not constrain decoding itself; vLLM,
    SGLang and llama.cpp's server do), and the answer comes back through the same path."""
    llm = _llm(server, tmp_path, max_tokens=24)
    reply = llm.complete([("user", 'Reply with JSON like {"label": "a"}.')], SCHEMA)
    assert reply.strip() and llm.notes == [] and not llm.schema_refused


class _Predictor(_Recorder):
    """Answers every request with one valid popularity prediction."""

    content = json.dumps({"label": "local-hit", "scale": 2, "confidence": 0.6, "explanation": "A council meeting.",
                          "evidence": []})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        reply = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": self.content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


def test_a_run_against_a_server_says_its_records_need_the_cache(tmp_path: Path) -> None:
    """Answers of a remote model cannot be recomputed bit for bit (the server batches requests
    across its users): the run's records say so, the local stages' records say they can be,
    and the manifest holds the numerics environment. (A loopback stand-in for the server: the
    flag comes from the config, not from what the server says.)"""
    from pipelines.config import validate_config
    from pipelines.runner import Runner
    from tests.conftest import write_manifest

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Predictor)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        manifest = write_manifest(tmp_path, [{"id": f"v{n}", "title": title, "split": "test",
                                              "labels": {"popularity": "local-hit"}}
                                             for n, title in enumerate(["Town council meeting", "World cup final"])])
        llm = {"backend": "openai", "model": "served", "base_url": f"http://127.0.0.1:{httpd.server_address[1]}/v1"}
        config = validate_config({"name": "remote", "task": "popularity", "dataset": {"path": str(manifest)},
                                  "stages": {"summarize": {}, "predict": {"mode": "zero_shot", "llm": llm}}})
        result = Runner(config, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False).run()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
    assert set(result.records["predict"]) == {"v0", "v1"}, result.summary_line()
    assert all(r.reproducible is False for r in result.records["predict"].values())
    assert all(r.reproducible is True for r in result.records["summarize"].values())
    manifest_json = json.loads((result.run_dir / "manifest.json").read_text())
    assert {"isa", "libraries", "threads", "cpu"} <= set(manifest_json["numerics"])
