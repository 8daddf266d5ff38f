from pathlib import Path

import pandas as pd
import pytest

from pipelines.datasets.manifest import LOAD_STAGE, load_manifest
from pipelines.errors import DatasetError


def test_reads_the_committed_sample_manifest(samples_dir: Path):
    loaded = load_manifest(samples_dir / "manifest.jsonl")
    assert loaded.errors == []
    assert 8 <= len(loaded.items) <= 12
    for item in loaded.items:
        assert Path(item.video_path).is_file(), item.item_id
        assert item.labels["popularity"] in {"local-hit", "global-big-hit"}
        assert item.split in {"train", "test"}
    assert sum((samples_dir / i.video).stat().st_size for i in loaded.items) <= 8 * 1024 * 1024


def test_csv_columns_map_to_item_fields(tmp_path: Path):
    (tmp_path / "m.csv").write_text(
        "video_id,path,title,label_popularity,split,views\nabc,v/abc.mp4,Hello,local-hit,train,12\n"
    )
    (item,) = load_manifest(tmp_path / "m.csv").items
    assert item.item_id == "abc" and item.title == "Hello" and item.split == "train"
    assert item.labels == {"popularity": "local-hit"}
    assert item.metadata == {"views": "12"}
    assert item.video_path == str(tmp_path / "v" / "abc.mp4")


def test_parquet_and_split_filter(tmp_path: Path):
    pd.DataFrame({"id": ["a", "b"], "path": ["a.mp4", "b.mp4"], "split": ["train", "test"]}).to_parquet(
        tmp_path / "m.parquet"
    )
    loaded = load_manifest(tmp_path / "m.parquet", split="test")
    assert [i.item_id for i in loaded.items] == ["b"]


def test_bad_rows_become_errors_and_good_rows_stay(tmp_path: Path):
    raw = (
        b"id,path,title\n"
        b"good,good.mp4,Fine title\n"
        b"escape,../../etc/passwd,Sneaky\n"
        b"latin1,x.mp4,Caf\xe9 \xff\n"
        b"good,dup.mp4,Duplicate id\n"
        b",noid.mp4,No id\n"
    )
    (tmp_path / "m.csv").write_bytes(raw)
    loaded = load_manifest(tmp_path / "m.csv")
    assert [i.item_id for i in loaded.items] == ["good"]
    reasons = {e.item_id: e.reason for e in loaded.errors}
    assert all(e.stage == LOAD_STAGE for e in loaded.errors)
    assert "escapes the data root" in reasons["escape"]
    assert "not valid UTF-8" in reasons["latin1"] and "'title'" in reasons["latin1"]
    assert "duplicate id 'good' (row 5)" in reasons["good (row 5)"]
    assert "has no id" in reasons["row-6"]


def test_rows_with_wrong_field_types_or_nul_bytes_are_row_errors(tmp_path: Path):
    (tmp_path / "m.jsonl").write_text(
        '{"id": "a", "labels": "local-hit"}\n{"id": "b", "metadata": ["x"]}\n{"id": "c", "path": "x\\u0000y.mp4"}\n'
        '{"id": "d", "labels": {"popularity": "local-hit"}}\n{"id": " e"}\n{"id": "f\\ng"}\n'
    )
    loaded = load_manifest(tmp_path / "m.jsonl")
    assert [i.item_id for i in loaded.items] == ["d"]
    reasons = {e.item_id: e.reason for e in loaded.errors}
    assert "field 'labels' must be an object" in reasons["a"]
    assert "field 'metadata' must be an object" in reasons["b"]
    assert "NUL byte" in reasons["c"]
    assert "surrounding spaces or control characters" in reasons[" e"] and "control" in reasons["f\ng"]


def test_jsonl_with_invalid_lines(tmp_path: Path):
    (tmp_path / "m.jsonl").write_bytes(b'{"id": "a", "path": "a.mp4"}\nnot json\n[1]\n{"id": "b", "title": "\xff"}\n')
    loaded = load_manifest(tmp_path / "m.jsonl")
    assert [i.item_id for i in loaded.items] == ["a"]
    assert len(loaded.errors) == 3


def test_missing_or_unknown_manifest(tmp_path: Path):
    with pytest.raises(DatasetError, match="manifest not found"):
        load_manifest(tmp_path / "nope.jsonl")
    (tmp_path / "m.xlsx").write_text("x")
    with pytest.raises(DatasetError, match="must be .csv"):
        load_manifest(tmp_path / "m.xlsx")
