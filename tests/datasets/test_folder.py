"""adapter: folder — a directory of videos is a dataset, with optional sidecars and labels.csv."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipelines.config import validate_config
from pipelines.datasets.folder import load_folder
from pipelines.errors import DatasetError
from pipelines.runner import Runner
from tests.conftest import SAMPLES


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_media_is_found_recursively_in_any_case_and_hidden_files_are_skipped(tmp_path: Path):
    for name in ("b.mp4", "trips/day1.MOV", "trips/Audio.M4A", "notes.txt", ".hidden.mp4", ".cache/x.mp4",
                 "empty.webm"):
        touch(tmp_path / name, b"" if name == "empty.webm" else b"x")
    loaded = load_folder(tmp_path)
    assert [i.item_id for i in loaded.items] == ["b", "empty", "trips/Audio", "trips/day1"]
    assert loaded.items[3].video == "trips/day1.MOV" and Path(loaded.items[3].video_path).is_file()
    assert loaded.errors == []  # the zero-byte file is an item; its stages will say it is empty


def test_files_that_share_a_stem_keep_their_extension(tmp_path: Path):
    touch(tmp_path / "a.mp4")
    touch(tmp_path / "a.mov")
    assert [i.item_id for i in load_folder(tmp_path).items] == ["a.mov", "a.mp4"]


def test_sidecars_and_labels_csv(tmp_path: Path):
    touch(tmp_path / "one.mp4")
    touch(tmp_path / "sub/two.mp4")
    touch(tmp_path / "three.mp4")
    (tmp_path / "one.mp4.json").write_text(json.dumps({"title": "First", "split": "Train", "channel": "c1",
                                                       "labels": {"popularity": "local-hit"}}))
    (tmp_path / "sub/two.json").write_text(json.dumps({"title": "Second", "description": "d"}))
    (tmp_path / "labels.csv").write_text("id,split,label_popularity,title\n"
                                         "sub/two,test,global-big-hit,\n"
                                         "one,,,Renamed\n"
                                         "ghost,train,local-hit,\n")
    loaded = load_folder(tmp_path)
    items = {i.item_id: i for i in loaded.items}
    assert set(items) == {"one", "sub/two", "three"}
    assert (items["one"].title, items["one"].split, items["one"].labels) == ("Renamed", "train", {"popularity": "local-hit"})
    assert items["one"].metadata == {"channel": "c1"}
    assert (items["sub/two"].title, items["sub/two"].split, items["sub/two"].labels) == \
        ("Second", "test", {"popularity": "global-big-hit"})
    (error,) = loaded.errors
    assert error.item_id == "ghost" and "matches no media file" in error.reason
    assert [i.item_id for i in load_folder(tmp_path, split="test").items] == ["sub/two"]


def test_labels_file_by_path_and_missing_folder(tmp_path: Path):
    touch(tmp_path / "v/clip.mp4")
    labels = tmp_path / "elsewhere.csv"
    labels.write_text("path,label\nv/clip.mp4,Local Hit\n")
    (item,) = load_folder(tmp_path / "v", labels_file=None).items
    assert item.labels == {}
    (item,) = load_folder(tmp_path, labels_file=labels).items
    assert item.labels == {"label": "Local Hit"}
    with pytest.raises(DatasetError, match="dataset folder not found"):
        load_folder(tmp_path / "nope")
    with pytest.raises(DatasetError, match="labels file not found"):
        load_folder(tmp_path, labels_file=tmp_path / "nope.csv")


def test_a_folder_of_real_clips_runs_end_to_end(tmp_path: Path):
    folder = tmp_path / "clips"
    (folder / "b").mkdir(parents=True)
    shutil.copyfile(SAMPLES / "espresso.mp4", folder / "Espresso.MP4")
    shutil.copyfile(SAMPLES / "cat_sofa.mp4", folder / "b" / "cat.mp4")
    cfg = validate_config({"name": "folder", "task": "popularity", "dataset": {"adapter": "folder", "path": str(folder)},
                           "stages": {"extract_frames": {"num_frames": 2}, "summarize": {}}})
    result = Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False).run()
    assert result.exit_code == 0
    assert sorted(result.records["summarize"]) == ["Espresso", "b/cat"]
    assert all(len(r.frames) == 2 for r in result.records["extract_frames"].values())
