"""The manifest examples of the README ("Your own videos") load as documented: the CSV, the
JSONL and a Parquet file with the same columns give the same items, labels and splits, and
metadata the model is not shown stays with the item."""

from __future__ import annotations

import re

import pandas as pd

from pipelines.datasets.manifest import load_manifest
from tests.conftest import ROOT


def readme_block(kind: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Your own videos"):]
    return re.search(rf"```{kind}\n(.*?)```", section, re.S).group(1)


def summary(items):
    return [(i.item_id, i.video, i.title, i.split, i.labels, i.metadata.get("channel")) for i in items]


def test_readme_csv_jsonl_and_parquet_manifests_agree(tmp_path):
    (tmp_path / "m.csv").write_text(readme_block("csv"))
    (tmp_path / "m.jsonl").write_text(readme_block("jsonl"))
    pd.read_csv(tmp_path / "m.csv", dtype=str).to_parquet(tmp_path / "m.parquet")
    loaded = {kind: load_manifest(tmp_path / f"m.{kind}") for kind in ("csv", "jsonl", "parquet")}
    for result in loaded.values():
        assert result.errors == []
    expected = [("v001", "videos/v001.mp4", "Street food in Bangkok", "train", {"popularity": "global-big-hit"}, "FoodTrips"),
                ("v002", "videos/v002.mp4", "Our village fair", "test", {"popularity": "local-hit"}, "HoveNews")]
    for kind, result in loaded.items():
        assert summary(result.items) == expected, kind
    assert str(loaded["csv"].items[0].metadata["views"]) == "1204332"
