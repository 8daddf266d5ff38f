"""One cache key, one answer: a record does not depend on the items batched with it, on the
order of the items or on the executor. Real bundled models on the committed sample set; every
comparison is exact (bytes), never within a tolerance.

Recomputing is forced by deleting the stage's cache entries between runs (the upstream
records stay cached, so each variant recomputes only the stage under test)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import load_config, validate_config
from pipelines.records import Record
from pipelines.runner import Runner
from tests.conftest import ROOT, SAMPLES, write_manifest

pytestmark = pytest.mark.slow

# texts of different lengths (titles, descriptions, frames, speech) at a few seconds a run: the picture
# measurements (OCR, measure_visuals: a minute and a half cold) change what is embedded, not how
TEXT_STAGES = {"extract_frames": {"num_frames": 4}, "transcribe_audio": {}, "summarize": {}}
VOLATILE = {"created_at", "seconds"}


def comparable(record: Record) -> dict[str, Any]:
    return record.model_dump(mode="json", exclude=VOLATILE)


def run(config: Any, tmp: Path, name: str) -> dict[str, dict[str, dict[str, Any]]]:
    result = Runner(config, runs_dir=tmp / "runs", cache_dir=tmp / "cache", run_id=name, show_progress=False).run()
    assert result.exit_code == 0, result.summary_line()
    return {stage: {i: comparable(r) for i, r in records.items()} for stage, records in result.records.items()}


def forget(tmp: Path, *stages: str) -> None:
    """Drop the cached records of ``stages`` (and LLM answers), so the next run computes them."""
    for stage in stages:
        shutil.rmtree(tmp / "cache" / "records" / stage, ignore_errors=True)
    shutil.rmtree(tmp / "cache" / "llm", ignore_errors=True)


def reversed_manifest(folder: Path) -> Path:
    rows = [json.loads(line) for line in (SAMPLES / "manifest.jsonl").read_text().splitlines() if line.strip()]
    return write_manifest(folder, rows[::-1])


def test_embed_records_are_the_same_bytes_for_any_batch_size_and_order(tmp_path: Path) -> None:
    def config(batch_size: int, manifest: Path = SAMPLES / "manifest.jsonl") -> Any:
        dataset = {"path": str(manifest), "data_root": str(SAMPLES)}
        return validate_config({"name": "invariance", "task": "popularity", "dataset": dataset,
                                "stages": {**TEXT_STAGES, "embed": {"batch_size": batch_size}},
                                "run": {"batch_size": 32}})

    expected = run(config(32), tmp_path, "b32")["embed"]
    assert len(expected) == 11
    for batch_size in (1, 2, 7):
        forget(tmp_path, "embed")
        assert run(config(batch_size), tmp_path, f"b{batch_size}")["embed"] == expected, batch_size
    forget(tmp_path, "embed")
    assert run(config(32, reversed_manifest(tmp_path / "reversed")), tmp_path, "reversed")["embed"] == expected


LLM_STAGES = ("hypothesize", "predict")


def demo_llm_config(**run_options: Any) -> Any:
    """The popularity demo's own LLM settings (the onnx backend, JSON-schema constrained, kept
    prefixes) with the bundled Qwen2.5-0.5B in place of the demo's 1.5B (the same backend code
    at a third of the cost; the 1.5B runs end to end in tests/audit/test_demo_audit.py), without
    the stages the LLM stages do not need."""
    path = ROOT / "pipelines" / "configs" / "popularity.yaml"
    keep = {*TEXT_STAGES, "embed", "retrieve_similar", *LLM_STAGES}
    others = [name for name in load_config(path).stages if name not in keep]
    config = load_config(path, [f"stages.{name}=null" for name in others]
                         + [f"dataset.path={SAMPLES / 'manifest.jsonl'}"]
                         + [f"{stage}.llm.model=bundled:qwen2.5-0.5b-instruct" for stage in LLM_STAGES]
                         + [f"run.{k}={v}" for k, v in run_options.items()])
    assert set(LLM_STAGES) <= set(config.stages)
    assert {config.stages[s]["llm"]["backend"] for s in LLM_STAGES} == {"onnx"}
    return config


@pytest.mark.timeout(1800)  # two runs of the 0.5B over 2 items of each split
def test_llm_records_are_the_same_for_any_batch_size_and_under_ray(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="the Ray leg needs the ray extra (make test installs it)")

    def llm_run(name: str, **run_options: Any) -> dict[str, dict[str, dict[str, Any]]]:
        forget(tmp_path, *LLM_STAGES)
        result = Runner(demo_llm_config(**run_options), runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache",
                        run_id=name, limit=2, show_progress=False).run()
        assert result.exit_code == 0, result.summary_line()
        return {s: {i: comparable(r) for i, r in result.records[s].items()} for s in LLM_STAGES}

    one = llm_run("batch1", batch_size=1)
    assert one["predict"] and one["hypothesize"]
    assert all(r["reproducible"] is True for records in one.values() for r in records.values())
    # batches of 8 on Ray's workers against one item at a time in this process: a record that depended on
    # its batch-mates or on the executor would differ (one run for both, the suite's slowest test else)
    assert llm_run("ray-batch8", batch_size=8, executor="ray") == one
