"""Remote LLM calls at study scale, against a fake OpenAI-compatible server on loopback
(``tests/fake_openai.py``: latency, slots, faults, request counts; bounded, stops by itself).

Requests in flight up to ``llm.max_concurrency`` per endpoint and model (shared by stages and
threads), answers in request order; retries on 429 / 5xx / dropped connections / timeouts
with ``Retry-After`` honoured, never on other 4xx; a wrong key fails fast in one line;
failures are values (one item fails, not the batch); usage, attempts and seconds kept in each
cache entry and summed per stage in ``stats.json``; a full popularity run through faults gives
the records of a fault-free run; a run killed with SIGKILL does not ask again for answers it
already had.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.config import validate_config
from pipelines.errors import LLMError
from pipelines.models.llm import CachedLLM, LLMConfig, retry_after_s, retryable
from pipelines.runner import Runner
from tests.conftest import ROOT, SAMPLES, write_manifest
from tests.fake_openai import FakeOpenAI, answer_for

SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": ["a", "b"]},
                                           "why": {"type": "string", "maxLength": 80}},
          "required": ["label", "why"]}
VOLATILE = {"created_at", "seconds"}


def remote(server: FakeOpenAI, tmp_path: Path, **overrides: Any) -> CachedLLM:
    cfg = LLMConfig(**{"backend": "openai", "model": "served", "base_url": server.url, "timeout_s": 2.0,
                       "retry_wait_s": 0.05, "max_retry_wait_s": 0.5, **overrides})
    return CachedLLM(cfg, tmp_path / "cache")


def asks(n: int, tag: str = "q") -> list[tuple[list[tuple[str, str]], dict[str, Any]]]:
    return [([("user", f"{tag} {i}: which label?")], SCHEMA) for i in range(n)]


def test_requests_fly_together_up_to_the_limit_and_come_back_in_order(tmp_path: Path) -> None:
    with FakeOpenAI(latency_s=0.3, slots=32, max_requests=200, lifetime_s=60) as server:
        llm = remote(server, tmp_path, max_concurrency=6)
        started = time.perf_counter()
        replies = llm.answer_all(asks(24), stage="predict")
        seconds = time.perf_counter() - started
        assert server.most_in_flight == 6
        assert seconds < 24 * 0.3 / 2  # serial would take 7.2 s; 6 in flight about 1.2 s
        assert replies == [answer_for({"messages": [{"role": "user", "content": m[0][1]}],
                                       "response_format": {"type": "json_schema",
                                                           "json_schema": {"schema": s}}})
                           for m, s in asks(24)]  # request order, not arrival order
        usage = llm.usage_report()["predict"][0]
        assert usage["requests"] == 24 and usage["retries"] == 0 and usage["prompt_tokens"] > 0
        again = remote(server, tmp_path, max_concurrency=6)
        assert again.answer_all(asks(24)) == replies and server.outcomes["200"] == 24  # all from the cache


def test_the_limit_is_shared_by_every_stage_of_the_process(tmp_path: Path) -> None:
    """Two stages (two CachedLLMs of one endpoint and model) in two threads: 4 in flight in all."""
    with FakeOpenAI(latency_s=0.2, slots=32, max_requests=200, lifetime_s=60) as server:
        a, b = remote(server, tmp_path, max_concurrency=4), remote(server, tmp_path, max_concurrency=4, seed=1)
        threads = [threading.Thread(target=llm.answer_all, args=(asks(16, tag),)) for llm, tag in ((a, "a"), (b, "b"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert server.outcomes["200"] == 32 and server.most_in_flight == 4


def test_faults_are_retried_and_nothing_is_lost(tmp_path: Path) -> None:
    faults = {"429": 0.2, "500": 0.1, "drop": 0.05, "timeout": 0.03}
    with FakeOpenAI(faults=faults, seed=3, hang_s=3.0, max_requests=500, lifetime_s=120) as server:
        llm = remote(server, tmp_path, max_concurrency=8, max_retries=8)
        replies = llm.answer_all(asks(60), stage="hypothesize")
        assert all(isinstance(r, str) for r in replies), [r for r in replies if not isinstance(r, str)][:2]
        assert {"429", "500", "drop"} <= set(server.outcomes)
        assert sum(server.answered.values()) == 60  # each answered once
        usage = llm.usage_report()["hypothesize"][0]
        assert usage["retries"] == server.received - 60 and usage["failed"] == 0
    entry = json.loads(next((tmp_path / "cache" / "llm").rglob("*.json")).read_text())
    assert entry["attempts"] >= 1 and entry["seconds"] > 0 and entry["usage"]["completion_tokens"] > 0


def test_retry_after_is_honoured_over_the_backoff(tmp_path: Path) -> None:
    """The backoff alone would wait 20 s; the server asks for 0.05 s."""
    with FakeOpenAI(faults={"429": 0.5}, seed=1, retry_after="0.05", max_requests=100, lifetime_s=60) as server:
        llm = remote(server, tmp_path, retry_wait_s=20.0, max_retry_wait_s=20.0, max_concurrency=1)
        started = time.perf_counter()
        assert all(isinstance(r, str) for r in llm.answer_all(asks(6)))
        assert server.outcomes["429"] > 0 and time.perf_counter() - started < 10


def test_retries_run_out_into_one_line_naming_endpoint_status_and_attempts(tmp_path: Path) -> None:
    with FakeOpenAI(status=503, max_requests=50, lifetime_s=60) as server:
        llm = remote(server, tmp_path, max_retries=2)
        (reply,) = llm.answer_all(asks(1))
        assert isinstance(reply, LLMError) and server.received == 3
        text = str(reply)
        assert "\n" not in text and server.url in text and "after 3 attempts" in text and "503" in text


@pytest.mark.parametrize("status", [400, 404, 422])
def test_other_client_errors_are_never_retried(tmp_path: Path, status: int) -> None:
    with FakeOpenAI(status=status, max_requests=50, lifetime_s=60) as server:
        llm = remote(server, tmp_path)
        (reply,) = llm.answer_all([([("user", "hello")], None)])
        assert isinstance(reply, LLMError) and server.received == 1


def test_a_wrong_key_fails_fast_in_one_line(tmp_path: Path) -> None:
    with FakeOpenAI(status=401, max_requests=50, lifetime_s=60) as server:
        llm = remote(server, tmp_path, max_concurrency=1)
        replies = llm.answer_all(asks(5))
        assert server.received == 1  # the first 401 stops the others before they are sent
        assert all(isinstance(r, LLMError) for r in replies)
        assert "\n" not in str(replies[-1]) and "401" in str(replies[-1]) and "OPENAI_API_KEY" in str(replies[-1])


def test_what_counts_as_retryable() -> None:
    class Status(Exception):
        def __init__(self, status_code: int, message: str = "") -> None:
            super().__init__(message)
            self.status_code = status_code

    assert retryable(Status(429)) and retryable(Status(503)) and retryable(Status(408))
    assert not retryable(Status(429, "You exceeded your quota: insufficient_quota"))
    assert not any(retryable(Status(s)) for s in (400, 401, 403, 404, 422))
    assert retryable(TimeoutError()) and retryable(ConnectionResetError()) and not retryable(ValueError())

    class Response:
        def __init__(self, headers: dict[str, str]) -> None:
            self.headers = headers

    waited = Status(429)
    waited.response = Response({"retry-after": "7"})  # type: ignore[attr-defined]
    assert retry_after_s(waited) == 7.0
    waited.response = Response({"retry-after-ms": "250", "retry-after": "7"})  # type: ignore[attr-defined]
    assert retry_after_s(waited) == 0.25
    assert retry_after_s(Status(429)) is None


# ------------------------------------------------------------------ whole runs through the server
LLM_STAGES = ("hypothesize", "predict", "audit_claims")


# The picture stages' evidence does not reach the LLM layer under test: left out, the run's text
# stages take seconds, not the minute and a half the demo's do.
PICTURE_STAGES = ("read_onscreen_text", "measure_visuals", "detect_objects", "describe_frames", "describe_audio")


def popularity_against(server: FakeOpenAI) -> Any:
    """The popularity demo config with every LLM block pointed at the fake server, without
    the picture stages (audit_claims audits the explanations)."""
    served = {"backend": "openai", "model": "served", "base_url": server.url, "timeout_s": 2.0,
              "retry_wait_s": 0.05, "max_retry_wait_s": 0.5, "max_retries": 10, "max_tokens": 200}
    data = yaml.safe_load((ROOT / "pipelines" / "configs" / "popularity.yaml").read_text())
    data["dataset"]["path"] = str(SAMPLES / "manifest.jsonl")
    data["stages"] = {name: block for name, block in data["stages"].items() if name not in PICTURE_STAGES}
    data["stages"]["audit_claims"]["targets"] = ["predict.explanation"]
    for stage in LLM_STAGES:
        data["stages"][stage]["llm"] = served
    return validate_config(data)


def comparable(result: Any) -> dict[str, dict[str, Any]]:
    return {s: {i: r.model_dump(mode="json", exclude=VOLATILE) for i, r in result.records[s].items()}
            for s in LLM_STAGES}


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_popularity_run_through_faults_equals_a_fault_free_run(tmp_path: Path) -> None:
    """One server (one URL, so the same keys), first without faults, then with them."""
    with FakeOpenAI(max_requests=4000, lifetime_s=1500, hang_s=3.0, seed=7) as server:
        config = popularity_against(server)
        first = Runner(config, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", run_id="clean",
                       show_progress=False).run()
        assert first.exit_code == 0, first.summary_line()
        expected = comparable(first)
        assert expected["predict"] and expected["hypothesize"] and expected["audit_claims"]
        for stage in LLM_STAGES:  # the text stages stay cached; the LLM's answers must be asked for again
            shutil.rmtree(tmp_path / "cache" / "records" / stage, ignore_errors=True)
        shutil.rmtree(tmp_path / "cache" / "llm")
        clean_requests = server.received
        server.faults = {"429": 0.10, "500": 0.05, "drop": 0.02, "timeout": 0.01}
        second = Runner(config, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", run_id="faults",
                        show_progress=False).run()
        assert {"429", "500"} <= set(server.outcomes), server.outcomes
        sent = server.received - clean_requests
    assert second.exit_code == 0, second.summary_line()
    assert comparable(second) == expected
    stats = json.loads((second.run_dir / "stats.json").read_text())
    usage = {stage: rows[0] for stage, rows in stats["llm_usage"].items()}
    assert set(LLM_STAGES) <= set(usage)
    answered = sum(u["requests"] for u in usage.values())
    assert sum(u["retries"] for u in usage.values()) == sent - answered > 0
    assert all(u["failed"] == 0 for u in usage.values())


@pytest.mark.slow
def test_a_killed_run_does_not_ask_again_for_answers_it_had(tmp_path: Path) -> None:
    rows = [{"id": f"v{n:02d}", "title": f"Video number {n} about {topic}", "split": "test",
             "labels": {"popularity": "local-hit"}}
            for n, topic in enumerate(["cats", "rockets", "cooking", "football", "music", "rain", "trains", "chess"] * 2)]
    manifest = write_manifest(tmp_path, rows)
    with FakeOpenAI(latency_s=0.5, slots=2, max_requests=200, lifetime_s=600) as server:
        llm = {"backend": "openai", "model": "served", "base_url": server.url, "max_concurrency": 2,
               "timeout_s": 60.0}  # a loaded machine must not turn slow answers into retries
        config = {"name": "remote", "task": "popularity", "dataset": {"path": str(manifest)},
                  "stages": {"summarize": {}, "predict": {"mode": "zero_shot", "llm": llm,
                                                         # one request per item, so that the server's counts are
                                                         # the items' (explanation repairs would add some)
                                                         "check_explanation": False}},
                  "run": {"batch_size": 8}}
        validate_config(config)
        path = tmp_path / "remote.yaml"
        path.write_text(yaml.safe_dump(config))
        command = [sys.executable, "-m", "pipelines.cli", "run", str(path), "--runs-dir", str(tmp_path / "runs"),
                   "--cache-dir", str(tmp_path / "cache"), "--run-id", "killed"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while server.outcomes["200"] < 5 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        time.sleep(1.0)  # the requests in flight at the kill finish on the server, unheard
        kept = len(list((tmp_path / "cache" / "llm").rglob("*.json")))  # answers the run had received
        sent = server.received
        assert 3 <= kept < 16 and sent - kept <= 2  # lost: only what was in flight (2 slots)
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert server.received - sent == 16 - kept  # no answer it had was asked for again
        # answered: every item; a request in flight at the kill may have found its client gone
    assert len(server.answered) == 16 and sent + 16 - kept - 2 <= sum(server.answered.values()) <= sent + 16 - kept
