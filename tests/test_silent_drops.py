"""Nothing is dropped in silence (pipelines/datasets/checks.py). Before, each of these ended
with exit 0, "all items done" and no predictions: split names that no stage uses, labels
outside the task's set, ``--limit`` taking only train items, a predict stage that applied to
no item, a retrieval index with no labelled item."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.config import validate_config
from pipelines.runner import Runner
from tests.conftest import write_manifest


def row(i: str, split: str | None, label: str | None = "local-hit", title: str = "a video") -> dict:
    out = {"id": i, "title": f"{title} {i}"}
    if split is not None:
        out["split"] = split
    if label is not None:
        out["labels"] = {"popularity": label}
    return out


def run(tmp_path: Path, rows: list[dict], stages: dict, limit: int | None = None):
    manifest = write_manifest(tmp_path, rows)
    cfg = validate_config({"name": "drops", "task": "popularity", "dataset": {"path": str(manifest)}, "stages": stages})
    return Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False, limit=limit).run()


RETRIEVAL = {"summarize": {}, "embed": {}, "retrieve_similar": {"k": 2}}


def test_split_names_are_case_folded_and_unused_splits_are_reported(tmp_path: Path):
    rows = [row("a", "Train"), row("b", " TRAIN "), row("c", "training"), row("d", "val"), row("e", None),
            row("f", "test")]
    result = run(tmp_path, rows, RETRIEVAL)
    assert {i.item_id: i.split for i in result.items}["a"] == "train"
    folded, unused = result.warnings[0], result.warnings[1]
    assert "split names case-folded" in folded and "'Train' -> 'train'" in folded
    assert "3 items have a split that no stage uses" in unused
    assert "'(none)': 1" in unused and "'training': 1" in unused and "'val': 1" in unused
    assert result.records["retrieve_similar"]["a"].index_size == 2  # Train and TRAIN are train items now
    stats = json.loads((result.run_dir / "stats.json").read_text())
    assert stats["warnings"] == result.warnings
    assert "2 warnings" in result.summary_line()


def test_labels_outside_the_set_are_row_errors_and_folding_is_reported(tmp_path: Path):
    rows = [row("a", "train", "viral"), row("b", "train", "Local Hit"), row("c", "train", "global-big-hit")]
    result = run(tmp_path, rows, {"summarize": {}})
    assert [i.item_id for i in result.items] == ["b", "c"]
    (error,) = result.load_errors
    assert error.item_id == "a" and error.error_type == "BadLabel"
    assert "'viral' is not one of local-hit, global-big-hit" in error.reason
    assert result.exit_code == 3 and "2 of 3 items done, 1 failed" in result.summary_line()
    assert any("labels normalised: 'Local Hit' -> 'local-hit' (1)" in w for w in result.warnings)


def test_limit_takes_the_first_items_of_each_split(tmp_path: Path):
    rows = [row(f"tr{i}", "train") for i in range(5)] + [row(f"te{i}", "test") for i in range(3)]
    result = run(tmp_path, rows, {"summarize": {}}, limit=2)
    assert [i.item_id for i in result.items] == ["tr0", "tr1", "te0", "te1"]


def test_a_stage_that_applies_to_no_item_is_a_warning(tmp_path: Path):
    rows = [row("a", "train"), row("b", "train", "global-big-hit")]
    result = run(tmp_path, rows, {"summarize": {}, "predict": {"mode": "zero_shot"}})
    assert result.stages["predict"].not_applicable == 2
    assert any(w.startswith("predict applied to no item (it runs on splits ['test'])") for w in result.warnings)
    assert result.model_loads == []  # nothing to predict: the LLM was never loaded


def test_an_empty_retrieval_index_is_a_warning(tmp_path: Path):
    rows = [row("a", "train", None), row("b", "train", None), row("q", "test", None)]
    result = run(tmp_path, rows, RETRIEVAL)
    assert all(r.neighbours == [] for r in result.records["retrieve_similar"].values())
    assert any("retrieve_similar: the index holds no labelled item of splits ['train']; 3 items got no neighbours"
               in w for w in result.warnings)
