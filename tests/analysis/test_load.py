"""load_run reads a real run (the runner on sample clips) into DataFrames, without models."""

import subprocess
import sys
from pathlib import Path

import pytest

from analysis import load_run
from pipelines.config import validate_config
from pipelines.runner import Runner
from tests.conftest import ROOT, config_dict, copy_sample, write_manifest


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("load")
    media = tmp / "media"
    rows = [{"id": "espresso", "path": copy_sample("espresso.mp4", media), "title": "Espresso"},
            {"id": "ghost", "path": "ghost.mp4"}]
    cfg = validate_config(config_dict(write_manifest(media, rows)))
    return Runner(cfg, runs_dir=tmp / "runs", cache_dir=tmp / "cache", run_id="r", show_progress=False).run().run_dir


def test_records_errors_and_manifest_as_frames(run_dir: Path):
    data = load_run(run_dir)
    assert set(data.stages) == {"extract_frames", "transcribe_audio", "summarize"}
    summary = data["summarize"]
    assert list(summary.columns[:3]) == ["item_id", "stage", "stage_version"]
    assert summary.loc[0, "item_id"] == "espresso" and "Espresso" in summary.loc[0, "text"]
    assert len(data["extract_frames"].loc[0, "frames"]) == 4
    assert set(data.errors["item_id"]) == {"ghost"} and set(data.errors["stage"]) == set(data.stages)
    assert data.manifest["status"] == "completed_with_errors" and data.stats["items"] == 2


def test_loading_imports_no_model_library(run_dir: Path):
    probe = (f"import sys; from analysis import load_run; load_run({str(run_dir)!r}); "
             "print([m for m in ('torch', 'transformers', 'decord', 'faster_whisper') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_not_a_run_directory(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        load_run(tmp_path)


def test_a_run_without_errors_has_an_errors_table_with_columns(tmp_path: Path):
    from pipelines.records import SummaryRecord
    from pipelines.store import RunStore

    store = RunStore(tmp_path / "run")
    store.write_manifest({"run_id": "run", "status": "completed"})
    store.append_records("summarize", [SummaryRecord(item_id="a", stage="summarize", key="k", stage_version=1,
                                                     input_hash="i", config_hash="c", text="t", sections=[])])
    errors = load_run(store.dir).errors
    assert errors.empty and list(errors.columns) == ["item_id", "stage", "key", "error_type", "reason", "created_at"]


def test_damaged_lines_are_skipped_and_listed(tmp_path: Path):
    from pipelines.records import SummaryRecord
    from pipelines.store import DamagedRunWarning, RunStore, on_damage

    store = RunStore(tmp_path / "run")
    store.write_manifest({"run_id": "run", "status": "completed"})
    shard = store.append_records("summarize", [
        SummaryRecord(item_id=i, stage="summarize", key="k", stage_version=1, input_hash="i", config_hash="c",
                      text="t", sections=[]) for i in ("a", "b")])
    shard.write_bytes(shard.read_bytes()[:-10])
    previous = on_damage(None)
    try:
        with pytest.warns(DamagedRunWarning, match=f"{shard}, line 2: cut short"):
            run = load_run(store.dir)
    finally:
        on_damage(previous)
    assert list(run["summarize"]["item_id"]) == ["a"] and [(d.path, d.line) for d in run.damaged] == [(shard, 2)]
    assert "1 damaged file parts skipped" in repr(run)
