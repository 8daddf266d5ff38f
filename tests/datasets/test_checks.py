"""What the runner checks on the loaded items: labels kept in their normal form, and split
warnings only for configs that restrict splits."""

from __future__ import annotations

from pathlib import Path

from pipelines.config import validate_config
from pipelines.datasets.checks import check_labels, split_warnings
from pipelines.records import Item
from pipelines.tasks import get_task


def test_labels_are_kept_in_their_normal_form():
    items = [Item(item_id="a", labels={"popularity": "Local Hit"}), Item(item_id="b", labels={"popularity": 4}),
             Item(item_id="c", labels={"popularity": "viral"}), Item(item_id="d")]
    kept, errors, notes = check_labels(items, get_task("popularity"))
    assert [i.labels.get("popularity") for i in kept] == ["local-hit", "global-big-hit", None]
    assert [e.item_id for e in errors] == ["c"] and "'Local Hit' -> 'local-hit'" in notes[0]
    film, _, _ = check_labels([Item(item_id="f", labels={"budget_usd": 42_000_000})], get_task("film"))
    assert film[0].labels["budget"] == "high" and film[0].labels["budget_usd"] == 42_000_000


def test_split_warnings_only_where_splits_matter(tmp_path: Path):
    items = [Item(item_id="a"), Item(item_id="b", split="dev")]
    exam = validate_config({"name": "f", "task": "film", "dataset": {"path": str(tmp_path / "m.jsonl")},
                            "stages": {"summarize": {}}})
    assert split_warnings(items, exam) == []
    predicting = validate_config({"name": "p", "task": "popularity", "dataset": {"path": str(tmp_path / "m.jsonl")},
                                  "stages": {"summarize": {}, "predict": {"mode": "zero_shot"}}})
    (warning,) = split_warnings(items, predicting)
    assert "'(none)': 1" in warning and "'dev': 1" in warning
