"""The film adapter: MovieNet-style metadata and CineScale/MovieShots-style shot annotations."""

import json
from pathlib import Path

import pytest

from pipelines.datasets.film import load_film, parse_budget, read_shots, scale_name
from pipelines.errors import DatasetError
from tests.conftest import write_manifest


def test_scale_names_and_budgets():
    assert [scale_name(v) for v in ("ECS", "close up", "CU", "MS", "Full shot", "wide", "LS", "dutch")] == [
        "extreme close-up", "close-up", "close-up", "medium", "full", "long", "long", None]
    assert parse_budget("$3,000,000 (estimated)") == 3e6
    assert parse_budget("USD 12.5 million") == 12.5e6
    assert parse_budget(2_000_000) == 2e6
    assert parse_budget("EUR 3,000,000") is None and parse_budget("£4,000,000") is None and parse_budget(None) is None


def test_metadata_and_shots_are_added(tmp_path: Path):
    meta = tmp_path / "meta"
    meta.mkdir()
    (meta / "tt0032138.json").write_text(json.dumps({
        "imdb_id": "tt0032138", "title": "The Wizard of Oz (1939)", "genres": ["Adventure", "Family", "Fantasy",
                                                                                 "Musical"],
        "budget": "$2,777,000 (estimated)", "director": ["Victor Fleming"], "overview": "Dorothy is swept away."}))
    (meta / "broken.json").write_text("{not json")
    rows = [{"id": "oz_clip", "imdb_id": "tt0032138", "split": "test"},
            {"id": "own", "title": "Kept title", "labels": {"genres": ["drama"], "budget": "high"}},
            {"id": "broken"}]
    manifest = write_manifest(tmp_path, rows)
    shots = tmp_path / "shots.csv"
    shots.write_text("clip,frame,fps,scale\noz_clip,0,24,LS\noz_clip,48,24,CS\noz_clip,120,24,ECS\nother,0,25,MS\n")
    loaded = load_film(manifest, metadata_dir=meta, shots_file=shots)
    by_id = {i.item_id: i for i in loaded.items}
    oz = by_id["oz_clip"]
    assert oz.title == "The Wizard of Oz" and oz.metadata["year"] == 1939 and oz.description == "Dorothy is swept away."
    assert oz.labels["genres"] == ["adventure", "family", "fantasy", "musical"]
    assert oz.labels["budget"] == "low" and oz.labels["budget_usd"] == 2_777_000
    assert oz.metadata["director"] == ["Victor Fleming"]
    assert [(s["start_s"], s["end_s"], s["shot_scale"]) for s in oz.labels["shots"]] == [
        (0.0, 2.0, "long"), (2.0, 5.0, "close-up"), (5.0, 1e9, "extreme close-up")]
    assert by_id["own"].title == "Kept title" and by_id["own"].labels["budget"] == "high"
    assert [e.item_id for e in loaded.errors] == ["broken"] and "not valid JSON" in loaded.errors[0].reason
    assert any("1 clips have no metadata" in n for n in loaded.notes)
    assert any("other" in n for n in loaded.notes)


def test_a_shots_file_without_times_is_refused(tmp_path: Path):
    bad = tmp_path / "shots.csv"
    bad.write_text("clip,scale\na,CU\n")
    with pytest.raises(DatasetError, match="needs a clip column"):
        read_shots(bad)
