"""The run says exactly what produced it (run manifest), and a dataset that changes under the
same run never mixes old and new records silently. Before, the manifest named only models
given as a stage's ``model`` key (not the LLM), no dataset hash nor working directory, and
records of items dropped from the manifest were read back by status and load_run."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from typer.testing import CliRunner

from analysis import load_run
from pipelines.cli import app
from pipelines.config import validate_config
from pipelines.runner import Runner
from tests.conftest import write_manifest

ROWS = [{"id": f"v{i}", "title": f"video {i}", "split": "train", "labels": {"popularity": "local-hit"}}
        for i in range(3)]
LLM = {"backend": "local", "model": "bundled:smollm2-135m-instruct"}


def run(tmp_path: Path, rows: list[dict]):
    manifest = write_manifest(tmp_path, rows)
    cfg = validate_config({"name": "prov", "task": "popularity", "dataset": {"path": str(manifest)},
                           "stages": {"summarize": {}, "embed": {}, "predict": {"mode": "zero_shot", "llm": LLM}}})
    return Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", run_id="r", show_progress=False).run()


def test_manifest_names_every_model_with_its_fingerprint_and_the_dataset(tmp_path: Path):
    result = run(tmp_path, ROWS)
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    models = {stage: [m["ref"] for m in entries] for stage, entries in manifest["models"].items()}
    assert models == {"embed": ["bundled:all-minilm-l6-v2"], "predict": ["bundled:smollm2-135m-instruct"]}
    assert manifest["models"]["predict"][0]["fingerprint"] == "bundled:smollm2-135m-instruct@0.1.2"
    data = tmp_path / "manifest.jsonl"
    assert manifest["dataset"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert manifest["dataset"]["path"] == str(data.resolve())
    assert manifest["cwd"] == os.getcwd() and manifest["command"]


def test_records_of_items_no_longer_in_the_dataset_are_stale(tmp_path: Path):
    run(tmp_path, ROWS)
    again = run(tmp_path, ROWS[:2])  # v2 left the manifest; same run id
    assert any("the dataset changed since the last attempt" in w and "1 items no longer in it are stale" in w
               for w in again.warnings)
    data = load_run(again.run_dir)
    assert sorted(data["summarize"]["item_id"]) == ["v0", "v1"]
    out = CliRunner().invoke(app, ["status", "r", "--runs-dir", str(tmp_path / "runs")])
    assert out.exit_code == 0
    summarize_row = next(line for line in out.output.splitlines() if "summarize" in line)
    assert " 2 " in summarize_row and " 3 " not in summarize_row


def test_stages_without_a_model_key_still_name_their_models():
    """OCR and the face cascades come from packages, not a config key: the manifest names them."""
    from importlib.metadata import version

    from pipelines.config import load_config
    from pipelines.models.bundled import model_fingerprint
    from pipelines.stages import get_stage
    from tests.conftest import ROOT

    cfg = load_config(ROOT / "pipelines/configs/popularity.yaml")
    (ocr,) = get_stage("read_onscreen_text").models_of(cfg.stage_config("read_onscreen_text"))
    assert model_fingerprint(ocr).endswith(f"@{version('rapidocr-onnxruntime')}")
    assert get_stage("describe_frames").models_of(cfg.stage_config("describe_frames")) == ["bundled:efficientnet-lite0"]
