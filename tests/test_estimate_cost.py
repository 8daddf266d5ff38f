"""Requests, tokens and cost before and after a run (issue 20, item 4): `m2t run --dry-run`
prices a remote model's requests without the model or its server; a run keeps its measured
usage (``llm_usage``) beside the estimate made at its start (``llm_estimate``), and the run's
last lines and `m2t status` show both, one line per stage and model.

The server is ``tests/fake_openai.py`` (loopback, bounded, stops by itself); its reported
usage is recomputed here from the cache entries (its formula: characters / 4 of the prompt and
of the answer), so the measured numbers are checked against the server, not against m2t.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pipelines.config import validate_config
from pipelines.estimate import (
    LLMRow,
    format_cost,
    llm_cache_empty,
    llm_work,
    prompt_counter,
    template_tokens,
    usage_with_estimate,
)
from pipelines.models.llm import LLMConfig, Prices
from pipelines.runner import Runner
from tests.conftest import ROOT, write_manifest
from tests.fake_openai import FakeOpenAI

PRICES = {"input_per_million": 150.0, "output_per_million": 600.0, "currency": "EUR"}
ITEMS = 4


@pytest.fixture(autouse=True)
def quiet_machine(monkeypatch):
    monkeypatch.setenv("M2T_CPU_CONTENTION", "1")


def closed_port_url() -> str:
    """A loopback URL nothing listens on: the port was bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def remote_config(tmp_path: Path, base_url: str, **llm: Any) -> dict[str, Any]:
    rows = [{"id": f"v{i}", "title": f"Video {i} about {topic}", "description": "A text-only item.", "split": "test",
             "labels": {"popularity": "local-hit" if i % 2 else "global-big-hit"}}
            for i, topic in enumerate(["cats", "rockets", "coffee", "rain"][:ITEMS])]
    served = {"backend": "openai", "model": "served", "base_url": base_url, "max_tokens": 200, "timeout_s": 2.0,
              "retry_wait_s": 0.05, "max_retry_wait_s": 0.2, "max_retries": 2, "prices": PRICES, **llm}
    return {"name": "priced", "task": "popularity", "dataset": {"path": str(write_manifest(tmp_path, rows))},
            "stages": {"summarize": {}, "predict": {"mode": "zero_shot", "llm": served}}}


def expected_predict_row(config: Any) -> dict[str, float]:
    """What the estimate must say for predict from the rules of ``llm_work`` (no summaries yet:
    the video text is a share of the budget; counted as characters / 4)."""
    from pipelines.stages import get_stage

    cfg = config.stage_config("predict")
    (part,) = llm_work("predict", cfg, template_tokens=template_tokens(get_stage("predict").prompt_names(cfg)),
                       stage_configs={n: config.stage_config(n) for n in config.stages})
    calls = ITEMS * part.calls.mid
    prompt, completion = int(calls * part.prompt.mid), int(calls * part.output.mid)
    return {"requests": math.ceil(calls), "prompt_tokens": prompt, "completion_tokens": completion,
            "cost": (prompt * PRICES["input_per_million"] + completion * PRICES["output_per_million"]) / 1e6}


def test_a_dry_run_prices_a_remote_models_requests_without_its_server(tmp_path: Path):
    url = closed_port_url()
    config = remote_config(tmp_path, url)
    path = tmp_path / "priced.yaml"
    path.write_text(yaml.safe_dump(config))
    expected = expected_predict_row(validate_config(config))
    assert expected["requests"] >= 6  # 4 items × 1.3 at least (a server's answers are repaired more often)

    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", str(path), "--dry-run", "--runs-dir",
                           str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "200", "M2T_CPU_CONTENTION": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("│ predict") and "served (openai)" in line]
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    cost = format_cost(expected["cost"], "EUR")
    assert cells[:5] == ["predict", "served (openai)", str(expected["requests"]), f"{expected['prompt_tokens']:,}",
                         f"{expected['completion_tokens']:,}"]
    assert cells[6] == cost and cells[7].endswith(" EUR")
    (total,) = [line for line in done.stdout.splitlines() if line.startswith("│ total")]
    assert f"{expected['prompt_tokens']:,}" in total and cost in total
    assert f"about {cost} at llm.prices" in done.stdout
    out = " ".join(done.stdout.split())
    assert "prompt tokens: counted as characters / 4" in out
    assert "completion tokens: the answer's expected length under its schema (75 per call), at most max_tokens 200" in out
    assert "the LLM call cache is empty, so every one is sent" in out
    assert not (tmp_path / "runs").exists()


def test_a_run_keeps_measured_usage_beside_the_estimate_and_shows_both(tmp_path: Path):
    with FakeOpenAI(max_requests=60, lifetime_s=50) as server:
        config = validate_config(remote_config(tmp_path, server.url))
        _, _, planned = Runner(config, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache",
                               show_progress=False).dry_run()
        assert server.received == 0  # the estimate sends nothing
        result = Runner(config, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", run_id="live",
                        show_progress=False).run()
        answered = server.outcomes["200"]
    assert result.exit_code == 0, result.summary_line()
    stats = json.loads((result.run_dir / "stats.json").read_text())

    # the estimate made at the start of the run: the dry run's, key by key as the expected rules say
    (est,) = stats["llm_estimate"]["predict"]
    assert est == planned["predict"].llm[0]
    expected = expected_predict_row(config)
    assert {k: est[k] for k in ("requests", "prompt_tokens", "completion_tokens")} == {
        k: expected[k] for k in ("requests", "prompt_tokens", "completion_tokens")}
    assert est["cost"] == pytest.approx(expected["cost"], abs=1e-6) and est["currency"] == "EUR"

    # measured: what the fake server reported for each request it answered (its formula, from the cache)
    entries = [json.loads(p.read_text()) for p in (tmp_path / "cache" / "llm").rglob("*.json")]
    prompt = sum(max(1, len("".join(str(c) for _, c in e["messages"])) // 4) for e in entries)
    completion = sum(max(1, len(e["value"]) // 4) for e in entries)
    (got,) = stats["llm_usage"]["predict"]
    assert got["requests"] == answered == len(entries) >= ITEMS
    assert (got["prompt_tokens"], got["completion_tokens"]) == (prompt, completion)
    assert got["cost"] == pytest.approx(Prices(**PRICES).cost(prompt, completion), abs=1e-6)
    assert got["currency"] == "EUR"

    # the run's last lines and `m2t status`: one line per stage, measured (est. ...)
    (line,) = usage_with_estimate(stats["llm_usage"], stats["llm_estimate"])
    assert (f"predict: served: {answered} requests (est. {est['requests']}), 0 answers from the cache, "
            f"{prompt:,} prompt (est. {est['prompt_tokens']:,}) + {completion:,} completion tokens "
            f"(est. {est['completion_tokens']:,})") in line
    assert line.endswith(f"cost {format_cost(got['cost'], 'EUR')} (est. {format_cost(est['cost'], None)})")
    from pipelines.cli import app

    shown = CliRunner().invoke(app, ["status", "live", "--runs-dir", str(tmp_path / "runs")],
                               env={"COLUMNS": "400"})
    assert shown.exit_code == 0, shown.output
    assert f"LLM {line}" in " ".join(shown.output.split())

    # the next estimate of this stage and model counts what this run measured, and says so
    changed = remote_config(tmp_path, closed_port_url())
    changed["stages"]["predict"]["text_tokens"] = 1000  # another config: every item to compute again
    _, _, learned = Runner(validate_config(changed), runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache",
                           show_progress=False).dry_run()
    assert learned["predict"].to_compute == ITEMS
    (row,) = learned["predict"].llm
    assert row["requests"] == answered
    assert row["completion_tokens"] == int(answered * round(completion / answered, 1))
    assert row["completion_from"].startswith(f"the mean of {answered} calls measured here")
    assert not llm_cache_empty(tmp_path / "cache")


def test_a_configured_tokenizer_counts_a_remote_models_prompt(tmp_path: Path):
    """``llm.tokenizer`` (a remote model's own tokenizer.json) counts the prompt; here a
    word-level tokenizer, so that the count is the number of words."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    llm = LLMConfig(backend="openai", model="served", base_url=closed_port_url(), tokenizer=str(tmp_path))
    measure, counted = prompt_counter(llm)
    assert counted == f"counted with the tokenizer {tmp_path / 'tokenizer.json'}"
    assert measure("three short words") == 3
    plain, how = prompt_counter(LLMConfig(backend="openai", model="served", base_url=closed_port_url()))
    assert plain is None and how == "counted as characters / 4"

    config = validate_config(remote_config(tmp_path, closed_port_url(), tokenizer=str(tmp_path)))
    _, _, estimates = Runner(config, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache",
                             show_progress=False).dry_run()
    assert estimates["predict"].llm[0]["prompt_from"] == counted


def test_usage_lines_with_and_without_an_estimate():
    usage = {"predict": [{"model": "m", "requests": 5, "cached": 1, "prompt_tokens": 3812, "completion_tokens": 410,
                          "retries": 2, "failed": 0, "seconds": 2.14, "cost": 0.0021, "currency": "USD"}]}
    estimate = {"predict": [{"model": "m", "requests": 5, "prompt_tokens": 3600, "completion_tokens": 450,
                             "cost": 0.002, "currency": "USD"}],
                "audit_claims": [{"model": "m", "requests": 3, "prompt_tokens": 900, "completion_tokens": 90,
                                  "cost": 0.0002, "currency": "USD"}],
                "hypothesize": [{"model": "m", "requests": 0, "prompt_tokens": 0, "completion_tokens": 0}]}
    predict, audit = usage_with_estimate(usage, estimate)
    assert predict == ("predict: m: 5 requests (est. 5), 1 answers from the cache, 3,812 prompt (est. 3,600) + 410 "
                       "completion tokens (est. 450), 2 retries, 0 failed, 2.1 s, cost 0.0021 USD (est. 0.0020)")
    assert audit.startswith("audit_claims: m: 0 requests (est. 3)") and audit.endswith("cost - (est. 0.000200 USD)")
    (old,) = usage_with_estimate(usage, None)  # a run from before llm_estimate existed
    assert "(est." not in old and old.startswith("predict: m: 5 requests, 1 answers from the cache")
    assert usage_with_estimate({}, None) == []


def test_an_estimate_row_prices_each_part_and_rounds_requests_up():
    row = LLMRow(model="m", backend="openai")
    row.add(5.2, 1000.0, 300.0, 2000.0, 800.0, Prices(**PRICES), prompt_from="a", completion_from="b")
    row.add(1.0, 100.0, 10.0, 100.0, 10.0, None, prompt_from="a", completion_from="c")
    got = row.as_dict()
    assert got["requests"] == 7 and (got["prompt_tokens"], got["completion_tokens"]) == (1100, 310)
    assert got["cost"] == pytest.approx((1000 * 150 + 300 * 600) / 1e6)  # the unpriced part costs nothing
    assert got["cost_max"] == pytest.approx((2000 * 150 + 800 * 600) / 1e6)
    assert got["completion_from"] == "b; c" and got["currency"] == "EUR"
    assert [format_cost(v, "USD") for v in (0.0021, 0.000042, 1234.5)] == ["0.0021 USD", "0.000042 USD",
                                                                          "1,234.50 USD"]
