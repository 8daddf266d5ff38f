"""load_run reads a real run (the runner on sample clips) into DataFrames, without models."""

import json
import os
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


PLUGIN = """
from typing import ClassVar

from pipelines.records import Item, Record
from pipelines.stages import STAGES, StageConfig, StageContext, stage


class ShoutRecord(Record):
    stage_name: ClassVar[str] = "shout_title"
    shout: str


class ShoutConfig(StageConfig):
    pass


if "shout_title" not in STAGES:
    @stage("shout_title", version=1, config=ShoutConfig, record=ShoutRecord, item_parts=("metadata",))
    def shout_title(item: Item, cfg: ShoutConfig, ctx: StageContext) -> ShoutRecord:
        return ShoutRecord(**ctx.provenance, shout=item.title.upper())
"""


def test_a_plug_in_stages_records_are_read_by_a_fresh_process(tmp_path: Path):
    """A stage defined outside the project: the run manifest names its record class, so a
    process that never imported it reads its records; where the class cannot be imported,
    load_run says so in a warning and reads the other stages."""
    (tmp_path / "plugin_shout.py").write_text(PLUGIN)
    rows = [{"id": "a", "title": "quiet", "path": copy_sample("espresso.mp4", tmp_path / "media")}]
    cfg = config_dict(write_manifest(tmp_path / "media", rows), stages={"extract_frames": {"num_frames": 2}, "shout_title": {}})
    (tmp_path / "case.json").write_text(json.dumps(cfg))
    run = ("import json, plugin_shout; from pipelines.config import validate_config; from pipelines.runner import Runner; "
           "Runner(validate_config(json.load(open('case.json'))), runs_dir='runs', cache_dir='cache', run_id='r', "
           "show_progress=False).run()")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    subprocess.run([sys.executable, "-c", run], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=300)
    assert "plugin_shout:ShoutRecord" in (tmp_path / "runs/r/manifest.json").read_text()
    probe = ("import sys, warnings; warnings.simplefilter('always'); from analysis import load_run; "
             "d = load_run('runs/r'); print(sorted(d.stages), d['shout_title'].shout.tolist() "
             "if 'shout_title' in d.stages else None, 'plugin_shout' in sys.modules)")
    found = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
    assert found.stdout.split() == ["['extract_frames',", "'shout_title']", "['QUIET']", "True"], found.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "runs").rename(elsewhere / "runs")
    (tmp_path / "plugin_shout.py").unlink()
    missing = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env={**env, "PYTHONPATH": str(ROOT)},
                             capture_output=True, text=True, timeout=300)
    assert missing.stdout.split() == ["['extract_frames']", "None", "False"], missing.stderr
    assert "cannot import the record class plugin_shout:ShoutRecord" in missing.stderr


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
