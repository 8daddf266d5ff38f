"""The cost estimate: `m2t run --dry-run` says what each stage would do and take without
running anything; a run keeps the estimate beside the measured time in stats.json and teaches
the next estimate this machine's throughput."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.config import validate_config
from pipelines.estimate import DEFAULT_MS_PER_ITEM, read_rates, record_rates
from pipelines.runner import Runner
from tests.conftest import ROOT, write_manifest


@pytest.fixture(autouse=True)
def quiet_machine(monkeypatch):
    """Quiet-machine figures: the CPU contention probe would scale them by how busy the
    test machine happens to be (tested apart, below)."""
    monkeypatch.setenv("M2T_CPU_CONTENTION", "1")


def _config(tmp_path: Path, n: int = 12):
    rows = [{"id": f"v{i}", "title": f"Video {i} about {'cats' if i % 2 else 'coffee'}",
             "description": f"A text-only item number {i}.", "split": "train" if i % 3 else "test",
             "labels": {"popularity": "local-hit" if i % 2 else "global-big-hit"}} for i in range(n)]
    manifest = write_manifest(tmp_path, rows)
    return validate_config({"name": "estimate", "task": "popularity", "dataset": {"path": str(manifest)},
                            "stages": {"summarize": {}, "embed": {}, "retrieve_similar": {"k": 2}}})


def test_dry_run_then_run_then_dry_run_again(tmp_path: Path):
    cfg = _config(tmp_path)
    runner = Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False)
    items, _, before = runner.dry_run()
    assert not runner.store.dir.exists()  # nothing written
    assert (before["summarize"].to_compute, before["summarize"].unknown) == (12, 0)
    assert (before["embed"].to_compute, before["embed"].unknown) == (0, 12)  # keys depend on summarize's records
    assert before["embed"].rate_from == "default"
    assert before["embed"].seconds == round(12 * DEFAULT_MS_PER_ITEM["embed"] / 1000, 1)

    result = Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False).run()
    stats = json.loads((result.run_dir / "stats.json").read_text())
    for stage in ("summarize", "embed", "retrieve_similar"):
        assert stats["stages"][stage]["estimated_seconds"] == stats["estimate"][stage]["seconds"]
        assert stats["stages"][stage]["seconds"] > 0
    rates = read_rates(tmp_path / "cache")
    assert rates["embed|bundled:all-minilm-l6-v2"]["items"] == 12

    again = Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False)
    _, _, after = again.dry_run()
    assert all(e.done == e.items and e.to_compute == e.unknown == 0 and e.seconds == 0 for e in after.values())
    assert after["embed"].rate_from.startswith("measured")
    # a fresh run id over the same cache: everything is a cache hit, known before running
    fresh = Runner(cfg, runs_dir=tmp_path / "runs2", cache_dir=tmp_path / "cache", show_progress=False)
    _, _, cached = fresh.dry_run()
    assert [e.cached for e in cached.values()] == [12, 12, 12]


def test_rates_are_a_running_mean_over_items(tmp_path: Path):
    record_rates(tmp_path, {"embed": ("m", 1.0, 10)})  # 100 ms an item
    record_rates(tmp_path, {"embed": ("m", 6.0, 30)})  # 200 ms an item
    assert read_rates(tmp_path)["embed|m"] == {**read_rates(tmp_path)["embed|m"], "ms_per_item": 175.0, "items": 40}


def test_m2t_run_dry_run_on_the_demo_config_prints_the_estimate(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "pipelines/configs/popularity.yaml", "--dry-run",
                           "--runs-dir", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "160"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "dry run of popularity-" in done.stdout and "estimated wall time" in done.stdout
    for stage in ("extract_frames", "transcribe_audio", "predict", "audit_claims"):
        assert stage in done.stdout
    assert not (tmp_path / "runs").exists()


# ----------------------------------------------------------------------------- LLM stages
from types import SimpleNamespace  # noqa: E402

from pipelines.estimate import (  # noqa: E402
    BUSY_FACTOR,
    CONVERTED_ONCE,
    LEARNED_SPREAD,
    OVER_FACTOR,
    ModelSpeed,
    StageEstimate,
    call_seconds,
    cpu_contention,
    estimate_stage,
    first_use_seconds,
    llm_work,
    model_speed,
    over_estimate,
    totals,
)
from pipelines.models.llm import LLMConfig  # noqa: E402

QWEN = {"backend": "local", "model": "bundled:qwen2.5-0.5b-instruct", "dtype": "bfloat16", "max_tokens": 200}
COUNTS = {"items": 10, "done": 0, "cached": 0, "to_compute": 6, "unknown": 4, "not_applicable": 0}


def _llm_config(tmp_path: Path, stages: dict) -> object:
    rows = [{"id": f"v{i}", "title": f"Video {i}", "description": "text only", "split": "test" if i < 3 else "train",
             "labels": {"popularity": "local-hit" if i % 2 else "global-big-hit"}} for i in range(6)]
    return validate_config({"name": "estimate-llm", "task": "popularity", "dataset": {"path": str(write_manifest(
        tmp_path, rows))}, "stages": {"summarize": {}, **stages}})


def test_an_llm_call_costs_prompt_over_prompt_rate_plus_output_over_decode_rate():
    speed = ModelSpeed(prompt_tps=700, decode_tps=10, call_s=1.0, load_s=6.0, source="test")
    assert call_seconds(speed, 700, 100) == pytest.approx(1.0 + 1.0 + 10.0)
    # a whole stage: work x calls per item x seconds per call, plus the load it pays once
    cfg = SimpleNamespace(llm=LLMConfig(**QWEN), mode="zero_shot", text_tokens=1200)
    parts = llm_work("predict", cfg, template_tokens=300, stage_configs={"predict": cfg})
    (part,) = parts
    used = model_speed("local", QWEN["model"], "bfloat16")
    paid = estimate_stage("predict", cfg, QWEN["model"], COUNTS, {}, parts=parts, pays_load={part.key})
    free = estimate_stage("predict", cfg, QWEN["model"], COUNTS, {}, parts=parts)
    per_call = call_seconds(used, part.prompt.mid, part.output.mid)
    assert free.seconds == pytest.approx(10 * part.calls.mid * per_call, abs=0.1)
    load = used.load_s + first_use_seconds(QWEN["model"])
    assert paid.seconds == pytest.approx(free.seconds + load, abs=0.1) and paid.load_seconds == pytest.approx(load)
    assert free.tokens_in == int(10 * part.calls.mid * part.prompt.mid)
    assert free.tokens_out <= free.tokens_out_max and part.output.high <= QWEN["max_tokens"]
    assert free.rate_from.startswith("tokens × rates")


def test_calls_per_item_follow_the_stage_configs():
    llm = LLMConfig(**QWEN)
    hyp = SimpleNamespace(llm=llm, n_hypotheses=3, example_tokens=120)
    configs = {"retrieve_similar": SimpleNamespace(k=4), "hypothesize": hyp}
    (questions,) = llm_work("hypothesize", hyp, template_tokens=400, stage_configs=configs)
    assert questions.calls.low < 3 < questions.calls.mid <= questions.calls.high == 6  # repairs: at most once each
    more = SimpleNamespace(llm=llm, n_hypotheses=6, example_tokens=120)
    doubled = llm_work("hypothesize", more, template_tokens=400, stage_configs=configs)[0]
    assert doubled.calls.mid == 2 * questions.calls.mid
    # the audit splits each generated text it audits with the llm: the explanation, each student's analysis
    audit = SimpleNamespace(llm=LLMConfig(**{**QWEN, "max_tokens": 400}), targets=["predict.explanation",
                            "analyse_film.analysis"], split_with_llm=["predict.explanation", "analyse_film.analysis"],
                            judge_types=[])
    film = {"analyse_film": SimpleNamespace(students=["text", "vlm"])}
    assert llm_work("audit_claims", audit, template_tokens=200, stage_configs=film)[0].calls.mid == 2
    assert llm_work("audit_claims", audit, template_tokens=200, stage_configs={"predict": object()})[0].calls.mid == 1
    judged = SimpleNamespace(**{**vars(audit), "judge_types": ["temporal"], "judge_lines": 60})
    assert len(llm_work("audit_claims", judged, template_tokens=200, stage_configs={"predict": object()})) == 2
    grade = SimpleNamespace(llm=llm, text_tokens=1200)
    assert llm_work("grade_analysis", grade, template_tokens=300, stage_configs=film)[0].calls.mid == 2
    # the answer never exceeds max_tokens, and a stage without an llm block has no LLM work
    tight = SimpleNamespace(llm=LLMConfig(**{**QWEN, "max_tokens": 50}), students=["text"], max_shots=12,
                            text_tokens=1500)
    assert llm_work("analyse_film", tight, template_tokens=400, stage_configs={})[0].output.high == 50
    assert llm_work("summarize", SimpleNamespace(), template_tokens=0, stage_configs={}) == []


def test_the_prompt_is_sized_from_the_video_texts_the_run_holds():
    cfg = SimpleNamespace(llm=LLMConfig(**QWEN), mode="zero_shot", text_tokens=1200)
    unknown = llm_work("predict", cfg, template_tokens=300, stage_configs={})[0]
    short = llm_work("predict", cfg, template_tokens=300, stage_configs={}, video_tokens=150)[0]
    long = llm_work("predict", cfg, template_tokens=300, stage_configs={}, video_tokens=5000)[0]
    assert short.prompt.mid == 300 + 150 < unknown.prompt.mid
    assert long.prompt.mid == long.prompt.high == 300 + 1200  # never more than the budget


def test_every_estimate_is_a_range_around_its_point():
    cfg = SimpleNamespace(llm=LLMConfig(**QWEN), mode="hypotheses", text_tokens=1200)
    configs = {"hypothesize": SimpleNamespace(n_hypotheses=3)}
    parts = llm_work("predict", cfg, template_tokens=400, stage_configs=configs)
    llm = estimate_stage("predict", cfg, QWEN["model"], COUNTS, {}, parts=parts)
    assert 0 < llm.seconds_low < llm.seconds < llm.seconds_high
    # the high end allows for a machine shared with another job, not for every extreme at once
    per_call = call_seconds(model_speed("local", QWEN["model"], "bfloat16"), parts[0].prompt.high, parts[0].output.high)
    assert llm.seconds_high < 10 * parts[0].calls.high * per_call * BUSY_FACTOR
    plain = estimate_stage("embed", None, "m", COUNTS, {})
    assert plain.seconds_low < plain.seconds < plain.seconds_high and plain.rate_from == "default"
    record_rates_dir = {"embed|m": {"ms_per_item": 500.0, "items": 20}}
    learned = estimate_stage("embed", None, "m", COUNTS, record_rates_dir)
    assert (learned.seconds_low, learned.seconds, learned.seconds_high) == pytest.approx(
        (5 * LEARNED_SPREAD[0], 5.0, 5 * LEARNED_SPREAD[1]))
    nothing = estimate_stage("predict", cfg, QWEN["model"], {**COUNTS, "to_compute": 0, "unknown": 0}, {}, parts=parts)
    assert nothing.seconds == nothing.seconds_low == nothing.seconds_high == 0
    assert totals({"a": llm, "b": plain}) == pytest.approx(
        (llm.seconds + plain.seconds, llm.seconds_low + plain.seconds_low, llm.seconds_high + plain.seconds_high))


def test_a_bundled_models_first_conversion_is_part_of_its_first_load(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("M2T_MODEL_CACHE", str(tmp_path))
    folder, seconds = CONVERTED_ONCE[QWEN["model"]]
    assert first_use_seconds(QWEN["model"]) == seconds > 0
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "config.json").write_text("{}")
    assert first_use_seconds(QWEN["model"]) == 0
    assert first_use_seconds("/models/elsewhere") == 0


def test_unknown_models_get_conservative_documented_rates():
    known = model_speed("local", QWEN["model"], "bfloat16")
    bigger = model_speed("local", "/models/Qwen2.5-7B-Instruct", "bfloat16")
    unnamed = model_speed("local", "/models/my-finetune", "bfloat16")
    assert bigger.decode_tps < unnamed.decode_tps < known.decode_tps  # 7B < 1.5B (assumed) < the measured 0.5B
    assert model_speed("local", "/models/my-finetune", "float32").prompt_tps < unnamed.prompt_tps
    server = model_speed("openai", "gpt-x")
    assert server.load_s == 0 and "conservative" in server.source and "conservative" in unnamed.source


def test_learning_from_a_run_replaces_the_defaults_per_stage_and_model(tmp_path: Path):
    from pipelines.stages.registry import ModelPool

    cfg = _llm_config(tmp_path, {"predict": {"mode": "zero_shot", "splits": None, "llm": QWEN}})
    runner = Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False)
    _, _, cold = runner.dry_run()
    assert cold["predict"].rate_from.startswith("tokens × rates") and cold["predict"].load_seconds > 0

    # what a run of 6 items measured: 9 calls in 60 s of wall time, the model loaded by this stage
    runner.estimates = {}
    llm_cfg = cfg.stage_config("predict").llm
    runner.models = ModelPool()
    runner.models.handle(f"llm:{llm_cfg.model_dump_json()}", lambda: SimpleNamespace(cfg=llm_cfg, _chat=object()))
    runner.llm_usage = lambda: {"predict": [{"model": llm_cfg.model, "requests": 9, "prompt_tokens": 6300,
                                             "completion_tokens": 720}]}
    from pipelines.runner import StageStats

    runner._record_rate("predict", StageStats(items=6, computed=6, compute_seconds=60.0, seconds=60.0))
    entry = read_rates(tmp_path / "cache")[f"predict|{llm_cfg.model}"]
    load = model_speed("local", llm_cfg.model, "bfloat16").load_s
    assert entry["calls_per_item"] == pytest.approx(1.5)
    assert entry["ms_per_call"] == pytest.approx(1000 * (60.0 - load) / 9, abs=0.01)  # the load taken out
    assert (entry["prompt_tokens_per_call"], entry["output_tokens_per_call"]) == (700.0, 80.0)

    _, _, warm = Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False).dry_run()
    e = warm["predict"]
    assert e.rate_from == "measured (9 calls)"
    assert e.seconds == pytest.approx(e.work * 1.5 * (60.0 - load) / 9 + load, abs=0.1)
    assert e.tokens_in == int(e.work * 1.5 * 700)
    assert e.seconds_low < e.seconds < e.seconds_high
    # keyed by stage and model: another model of the same stage keeps the defaults
    other = _llm_config(tmp_path / "other", {"predict": {"mode": "zero_shot", "splits": None,
                                                         "llm": {**QWEN, "model": "bundled:smollm2-135m-instruct"}}})
    _, _, fresh = Runner(other, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False).dry_run()
    assert fresh["predict"].rate_from.startswith("tokens × rates")


def test_a_model_is_loaded_once_per_llm_block(tmp_path: Path):
    cfg = _llm_config(tmp_path, {"predict": {"mode": "zero_shot", "splits": None, "llm": QWEN},
                                 "audit_claims": {"targets": ["predict.explanation"], "llm": QWEN, "judge_types": []},
                                 })
    _, _, same = Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False).dry_run()
    assert same["predict"].load_seconds > 0 and same["audit_claims"].load_seconds == 0
    other = _llm_config(tmp_path / "b", {"predict": {"mode": "zero_shot", "splits": None, "llm": QWEN},
                                         "audit_claims": {"targets": ["predict.explanation"], "judge_types": [],
                                                          "llm": {**QWEN, "max_tokens": 400}}})
    _, _, two = Runner(other, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False).dry_run()
    assert two["predict"].load_seconds > 0 and two["audit_claims"].load_seconds > 0


def _estimate(stage: str, seconds: float) -> StageEstimate:
    return StageEstimate(stage=stage, items=1, done=0, cached=0, to_compute=1, unknown=0, not_applicable=0,
                         ms_per_item=1000 * seconds, rate_from="default", seconds=seconds, seconds_low=seconds / 2,
                         seconds_high=seconds * 2)


def test_stages_more_than_twice_over_their_estimate_are_flagged(capsys):
    assert over_estimate(OVER_FACTOR * 10 + 1, _estimate("predict", 10))
    assert not over_estimate(OVER_FACTOR * 10 - 1, _estimate("predict", 10))
    assert not over_estimate(4.0, _estimate("summarize", 0.1))  # a few seconds is start-up noise, never flagged
    assert not over_estimate(100.0, None)

    from pipelines import cli
    from pipelines.runner import StageStats

    result = SimpleNamespace(stages={"embed": StageStats(computed=1, seconds=9.0),
                                     "predict": StageStats(computed=1, seconds=98.0)},
                             estimates={"embed": _estimate("embed", 8.0), "predict": _estimate("predict", 20.0)})
    width, cli.out.width = cli.out.width, 200
    try:
        cli._print_stage_table(result)
    finally:
        cli.out.width = width
    printed = capsys.readouterr().out
    assert printed.count("▲") == 2  # the marker in predict's row and in the line that names it
    (line,) = [x for x in printed.splitlines() if "over 2× the estimate" in x]
    assert "predict (98 s, estimated 20 s)" in line and "embed" not in line


def test_a_busy_machine_scales_the_estimate_and_is_taken_out_of_what_a_run_teaches(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("M2T_CPU_CONTENTION")
    assert cpu_contention(0.02) >= 1.0  # the probe: wall time per CPU second of a busy loop
    monkeypatch.setenv("M2T_CPU_CONTENTION", "3")
    assert cpu_contention() == 3.0
    quiet = estimate_stage("embed", None, "m", COUNTS, {})
    busy = estimate_stage("embed", None, "m", COUNTS, {}, contention=3.0)
    assert (busy.seconds, busy.seconds_high, busy.contention) == pytest.approx((3 * quiet.seconds, 3 * quiet.seconds_high,
                                                                                 3.0), abs=0.1)
    # 30 s measured while the machine ran everything 3x slower: 10 s on a quiet machine is kept
    record_rates(tmp_path, {"embed": ("m", 30.0, 10)}, contention=3.0)
    assert read_rates(tmp_path)["embed|m"]["ms_per_item"] == 1000.0
