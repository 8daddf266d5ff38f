"""adapter: folder — a directory of videos is a dataset, with optional sidecars and labels.csv."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from pipelines.config import DatasetConfig, validate_config
from pipelines.datasets import load_dataset
from pipelines.datasets.folder import load_folder
from pipelines.datasets.manifest import LOAD_STAGE
from pipelines.errors import DatasetError
from pipelines.runner import EXIT_ITEMS_FAILED, Runner
from pipelines.store import RunStore
from tests.conftest import SAMPLES, copy_sample


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


def reasons(loaded) -> dict[str, str]:
    assert all(e.stage == LOAD_STAGE and "\n" not in e.reason for e in loaded.errors)
    return {e.item_id: e.reason for e in loaded.errors}


def test_ids_stay_unique_when_a_kept_extension_clashes_again(tmp_path: Path):
    for name in ("a.mp4", "a.mov", "a.mp4.mkv", "sub/a.mp4", "b.wav"):
        touch(tmp_path / name)
    loaded = load_folder(tmp_path)
    assert [i.item_id for i in loaded.items] == ["a.mov", "a.mp4", "a.mp4.mkv", "b", "sub/a"]
    assert {i.item_id: i.video for i in loaded.items}["a.mp4.mkv"] == "a.mp4.mkv"


def test_empty_folder_missing_folder_and_a_file_as_folder(tmp_path: Path):
    empty = load_folder(tmp_path)
    assert empty.items == [] and empty.errors == []
    with pytest.raises(DatasetError, match="dataset folder not found") as missing:
        load_folder(tmp_path / "nope")
    touch(tmp_path / "manifest.csv")
    with pytest.raises(DatasetError, match="is a file; adapter 'folder' needs a folder") as a_file:
        load_folder(tmp_path / "manifest.csv")
    assert "\n" not in str(missing.value) + str(a_file.value)


def test_sidecar_keys_map_like_a_manifest_row(tmp_path: Path):
    touch(tmp_path / "clip.mp4")
    (tmp_path / "clip.mp4.json").write_text(json.dumps({
        "title": "T", "description": "D", "split": "test", "labels": {"popularity": "local-hit"},
        "label_genre": "drama", "metadata": {"channel": "c"}, "views": 12, "video_id": "yt123", "id": "other",
    }))
    (item,) = load_folder(tmp_path).items
    assert (item.item_id, item.video, item.title, item.description, item.split) == ("clip", "clip.mp4", "T", "D", "test")
    assert item.labels == {"popularity": "local-hit", "genre": "drama"}
    assert item.metadata == {"channel": "c", "views": 12, "video_id": "yt123", "id": "other"}


def test_bad_and_ambiguous_sidecars_are_load_errors(tmp_path: Path):
    for name in ("a.mp4", "a.MOV", "b.mp4", "c.mp4", "d.mp4", "e.mp4"):
        touch(tmp_path / name)
    (tmp_path / "a.json").write_text('{"title": "which one?"}')
    (tmp_path / "b.mp4.json").write_text('{"title": "long"}')
    (tmp_path / "b.json").write_text('{"title": "short"}')
    (tmp_path / "c.json").write_text("{not json")
    (tmp_path / "d.json").write_text("[1, 2]")
    (tmp_path / "e.json").write_text('{"labels": "local-hit"}')
    loaded = load_folder(tmp_path)
    assert [(i.item_id, i.title) for i in loaded.items] == [("a.MOV", ""), ("a.mp4", "")]
    why = reasons(loaded)
    assert set(why) == {"a.json", "b", "c", "d", "e"}
    assert "fits 2 files (a.MOV, a.mp4) and was not used" in why["a.json"]
    assert "two sidecars, b.mp4.json and b.json" in why["b"]
    assert "sidecar c.json is not valid JSON" in why["c"]
    assert "must hold a JSON object, not list" in why["d"]
    assert "sidecar e.json: field 'labels' must be an object" in why["e"]


def test_labels_file_wins_over_the_sidecar_field_by_field(tmp_path: Path):
    touch(tmp_path / "clip.mp4")
    (tmp_path / "clip.json").write_text(json.dumps({
        "title": "From sidecar", "split": "train", "labels": {"popularity": "local-hit", "genre": "drama"},
        "metadata": {"channel": "c1", "views": 10},
    }))
    (tmp_path / "labels.csv").write_text(
        "path,label_popularity,label_genre,views,title,description,split\n"
        "clip.mp4,global-big-hit,,99,,From CSV,\n"
    )
    (item,) = load_folder(tmp_path).items
    assert item.labels == {"popularity": "global-big-hit", "genre": "drama"}
    assert item.metadata == {"channel": "c1", "views": "99"}
    assert (item.title, item.description, item.split) == ("From sidecar", "From CSV", "train")


def test_label_rows_without_their_file_are_one_load_error_each(tmp_path: Path):
    for name in ("a.mp4", "a.MOV", "good.mp4", "other.mp4"):
        touch(tmp_path / name)
    touch(tmp_path / "notes.txt")
    (tmp_path / "labels.csv").write_bytes(
        b"id,path,title\n"
        b"ghost,,Gone\n"
        b",missing.mp4,Gone too\n"
        b",../outside.mp4,Outside\n"
        b",notes.txt,Not media\n"
        b"a,,Which a?\n"
        b"good,other.mp4,Disagree\n"
        b"good,,First\n"
        b",good.mp4,Second row\n"
        b",,Nothing\n"
        b"other,,Caf\xe9\n"
    )
    loaded = load_folder(tmp_path)
    assert [(i.item_id, i.title) for i in loaded.items] == [("a.MOV", ""), ("a.mp4", ""), ("good", "First")]
    why = reasons(loaded)
    assert "file not found: id 'ghost' matches no media file" in why["ghost"]
    assert "file not found: no missing.mp4" in why["missing.mp4"]
    assert "escapes the data root" in why["../outside.mp4"]
    assert "'notes.txt' is hidden or not a media file" in why["notes.txt"]
    assert "id 'a' fits several files (ids a.MOV, a.mp4)" in why["a"]
    assert "id 'good' and path 'other.mp4' name different files" in why["good"]
    assert "labels.csv line 9 is a second row for 'good' (first: line 8)" in why["good (labels.csv line 9)"]
    assert "has neither an id nor a path" in why["labels.csv line 10"]
    assert "labels.csv line 11: field 'title' is not valid UTF-8" in why["other"]  # its file exists: the item fails
    assert len(loaded.errors) == 9


def test_labels_file_must_name_files_and_may_be_any_manifest_format(tmp_path: Path):
    touch(tmp_path / "v/clip.mp4")
    (tmp_path / "bad.csv").write_text("video_id,label\nclip,local-hit\n")
    with pytest.raises(DatasetError, match="neither an 'id' nor a 'path' column .found: label, video_id"):
        load_folder(tmp_path / "v", labels_file=tmp_path / "bad.csv")
    (tmp_path / "labels.jsonl").write_text('{"id": "clip", "labels": {"popularity": "local-hit"}, "split": "TRAIN"}\n')
    loaded = load_folder(tmp_path / "v", labels_file=tmp_path / "labels.jsonl")
    assert [(i.labels, i.split) for i in loaded.items] == [({"popularity": "local-hit"}, "train")]
    assert loaded.notes == ["split names case-folded: 'TRAIN' -> 'train'"]


def test_split_filter_keeps_errors_of_every_split(tmp_path: Path):
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        touch(tmp_path / name)
    (tmp_path / "labels.csv").write_text("id,split\na,Train\nb,test\nghost,test\n")
    assert [i.item_id for i in load_folder(tmp_path, split="train").items] == ["a"]
    loaded = load_folder(tmp_path, split=" TEST")
    assert [i.item_id for i in loaded.items] == ["b"] and set(reasons(loaded)) == {"ghost"}
    assert [i.item_id for i in load_folder(tmp_path).items] == ["a", "b", "c"]


def test_load_dataset_dispatches_to_the_folder_adapter(tmp_path: Path):
    touch(tmp_path / "clips/x.mp4")
    touch(tmp_path / "clips/y.mp4")
    (tmp_path / "y.csv").write_text("id,split\nx,train\ny,test\n")
    cfg = DatasetConfig(adapter="folder", path=str(tmp_path / "clips"), labels_file=str(tmp_path / "y.csv"), split="test")
    assert [i.item_id for i in load_dataset(cfg).items] == ["y"]


def test_file_names_that_cannot_be_ids_are_load_errors(tmp_path: Path):
    touch(tmp_path / "fine.mp4")
    touch(tmp_path / "new\nline.mp4")
    touch(tmp_path / " padded.mp4")
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.mp4"), "wb") as handle:
        handle.write(b"x")
    loaded = load_folder(tmp_path)
    assert [i.item_id for i in loaded.items] == ["fine"]
    why = reasons(loaded)
    assert "surrounding spaces or control characters" in why["new\nline"] and "control" in why[" padded"]
    assert "file name 'caf?.mp4' is not valid UTF-8; rename the file" in why["caf?.mp4"]


def test_symlinked_folders_are_read_once(tmp_path: Path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    touch(root / "real/x.mp4")
    touch(outside / "y.mp4")
    (root / "inner_link").symlink_to(root / "real", target_is_directory=True)
    (root / "real/loop").symlink_to(root, target_is_directory=True)
    (root / "ext").symlink_to(outside, target_is_directory=True)
    (root / "ext2").symlink_to(outside, target_is_directory=True)
    loaded = load_folder(root)
    assert [i.item_id for i in loaded.items] == ["ext/y", "real/x"] and loaded.errors == []
    assert Path(loaded.items[0].video_path).is_file()
    notes = " | ".join(loaded.notes)
    assert "folder inner_link links to real inside the dataset" in notes
    assert "folder real/loop links to . inside the dataset" in notes
    assert "folder ext2 is ext again (a symlink)" in notes


def test_a_zero_byte_file_and_an_unmatched_label_row_are_reported_by_the_run(tmp_path: Path):
    folder = tmp_path / "clips"
    copy_sample("espresso.mp4", folder)
    (folder / "empty.MP4").write_bytes(b"")
    (folder / "labels.csv").write_text("id,title\nespresso,How I make espresso\nghost,No file\n")
    cfg = validate_config({"name": "folder", "task": "popularity", "dataset": {"adapter": "folder", "path": str(folder)},
                           "stages": {"extract_frames": {"num_frames": 2}, "summarize": {}}})
    result = Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False).run()
    assert result.exit_code == EXIT_ITEMS_FAILED
    store = RunStore(result.run_dir)
    assert {e.item_id: e.reason for e in store.errors("extract_frames")} == \
        {"empty": "video file is empty (0 bytes): empty.MP4"}
    assert "file not found" in {e.item_id: e.reason for e in store.errors(LOAD_STAGE)}["ghost"]
    assert "espresso" in result.records["summarize"]["espresso"].text.lower()
