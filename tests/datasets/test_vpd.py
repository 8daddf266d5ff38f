"""The VPD adapter on the real label files in data/vpd, joined with a few local videos."""

import json
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from pipelines.datasets.manifest import LOAD_STAGE
from pipelines.datasets.vpd import caption_text, load_vpd
from pipelines.errors import DatasetError
from tests.conftest import ROOT, SAMPLES

VPD = ROOT / "data" / "vpd"
CLASSES = {"local-hit", "global-big-hit"}
HEADER = "video_id,final_views,num_country,popularity_category,split\n"


@pytest.fixture(scope="module")
def full():
    return load_vpd(VPD)


def test_real_label_files_counts(full):
    assert full.errors == []
    counts = Counter((i.split, i.labels["popularity"]) for i in full.items)
    assert counts == {
        ("train", "local-hit"): 6179,
        ("train", "global-big-hit"): 7260,
        ("test", "local-hit"): 100,
        ("test", "global-big-hit"): 100,
    }
    assert sum(n for (s, _), n in counts.items() if s == "train") == 13439
    ids = [i.item_id for i in full.items]
    assert len(set(ids)) == len(ids) == 13639
    assert sum(i.startswith("-") for i in ids) > 100
    assert all(len(i) == 11 for i in ids)


def test_real_label_files_types_and_shape(full):
    for item in full.items:
        assert item.labels["popularity"] in CLASSES
        assert type(item.labels["views"]) is int and type(item.labels["countries"]) is int
        assert set(item.labels) == {"popularity", "views", "countries"}
        assert item.video is None and item.video_path is None
        assert item.title == "" and item.description == "" and item.metadata == {}


def test_class_definitions_hold_in_the_files(full):
    # Kayal et al. (2025): a local hit has <= ~78K views and trended in 1 country; a global
    # big hit has >= ~594K views and trended in 6+ countries. Bounds below are the files' own.
    local = [i.labels for i in full.items if i.labels["popularity"] == "local-hit"]
    big = [i.labels for i in full.items if i.labels["popularity"] == "global-big-hit"]
    assert all(x["countries"] == 1 for x in local)
    assert max(x["views"] for x in local) == 78187
    assert min(x["views"] for x in local) == 3532
    assert all(x["countries"] >= 6 for x in big)
    assert min(x["countries"] for x in big) == 6
    assert min(x["views"] for x in big) == 593994


def test_split_filter_and_load_time():
    start = time.perf_counter()
    load_vpd(VPD)
    assert time.perf_counter() - start < 1.0
    test = load_vpd(VPD, split="test")
    assert len(test.items) == 200 and test.errors == []
    assert {i.split for i in test.items} == {"test"}
    assert load_vpd(VPD, split="nope").items == []


@pytest.fixture
def videos_dir(tmp_path: Path):
    ids = [i.item_id for i in load_vpd(VPD, split="test").items[:2]]
    folder = tmp_path / "videos"
    (folder / "captions").mkdir(parents=True)
    for video_id in ids:
        shutil.copyfile(SAMPLES / "espresso.mp4", folder / f"{video_id}.mp4")
    transcript = [
        {"text": "Good morning.", "start": 0.0, "duration": 1.2},
        {"text": "Today:\nespresso", "start": 1.2, "duration": 2.0},
    ]
    (folder / "captions" / f"{ids[0]}.json").write_text(json.dumps(transcript), encoding="utf-8")
    (folder / "captions" / f"{ids[1]}.json").write_text('[{"text": "cut off', encoding="utf-8")
    return folder, ids


def test_required_videos_join_files_and_captions(videos_dir):
    folder, (with_captions, malformed) = videos_dir
    loaded = load_vpd(VPD, videos_dir=folder, split="test")
    items = {i.item_id: i for i in loaded.items}
    assert set(items) == {with_captions, malformed}
    for video_id, item in items.items():
        assert item.video == f"{video_id}.mp4"
        assert item.video_path == str(folder / f"{video_id}.mp4") and Path(item.video_path).is_file()
    assert items[with_captions].metadata == {"captions": "Good morning. Today: espresso"}
    error = items[malformed].metadata["captions_error"]
    assert "captions" not in items[malformed].metadata
    assert f"{malformed}.json" in error and "JSONDecodeError" in error and "\n" not in error

    assert len(loaded.errors) == 198
    assert {e.stage for e in loaded.errors} == {LOAD_STAGE}
    assert {e.error_type for e in loaded.errors} == {"MissingVideo"}
    first = loaded.errors[0]
    assert first.reason.startswith(f"video {first.item_id}.mp4 is not in {folder}")


def test_optional_videos_keep_every_item(videos_dir):
    folder, ids = videos_dir
    loaded = load_vpd(VPD, videos_dir=folder, split="test", require_video=False)
    assert loaded.errors == [] and len(loaded.items) == 200
    with_video = {i.item_id for i in loaded.items if i.video_path}
    assert with_video == set(ids)
    assert all(i.video is None for i in loaded.items if i.item_id not in with_video)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ("plain text", "plain text"),
        (["a", "b "], "a b"),
        ([{"text": "a", "start": 0}, {"text": "b"}], "a b"),
        ({"text": "whole"}, "whole"),
        ({"captions": ["x", {"text": "y"}]}, "x y"),
        ({"segments": [{"text": " z "}]}, "z"),
        ([], ""),
    ],
)
def test_caption_shapes(data, text):
    assert caption_text(data) == text


@pytest.mark.parametrize("data", [42, {"other": 1}, [{"start": 0}], [1]])
def test_unknown_caption_shapes_are_reported(data, tmp_path: Path):
    with pytest.raises(ValueError):
        caption_text(data)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "l.csv").write_text(HEADER + "abc,10,1,local-hit,test\n")
    (tmp_path / "v" / "captions").mkdir(parents=True)
    (tmp_path / "v" / "abc.mp4").write_bytes(b"")
    (tmp_path / "v" / "captions" / "abc.json").write_text(json.dumps(data))
    (item,) = load_vpd(tmp_path / "labels", videos_dir=tmp_path / "v").items
    assert item.metadata["captions_error"].startswith("captions/abc.json is unreadable: ValueError")


def test_bad_rows_become_errors(tmp_path: Path):
    (tmp_path / "a.csv").write_text(
        HEADER
        + "-dash,1000,1,local-hit,train\n"
        + "007,12.0,1,local-hit,train\n"
        + "NaN,5,1,local-hit,train\n"
        + "badviews,many,1,local-hit,train\n"
        + "nocat,10,1,,train\n"
        + ",10,1,local-hit,train\n"
    )
    (tmp_path / "b.csv").write_text(
        HEADER + "-dash,2000000,9,global-big-hit,test\n../../etc/passwd,1,1,local-hit,test\n"
    )
    loaded = load_vpd(tmp_path, videos_dir=tmp_path, require_video=False)
    items = {i.item_id: i for i in loaded.items}
    assert set(items) == {"-dash", "007", "NaN"}
    assert items["-dash"].labels == {"popularity": "local-hit", "views": 1000, "countries": 1}
    assert items["007"].labels["views"] == 12
    reasons = {e.item_id: e.reason for e in loaded.errors}
    assert all(e.stage == LOAD_STAGE for e in loaded.errors)
    assert "final_views 'many' is not a whole number" in reasons["badviews"]
    assert "popularity_category is empty" in reasons["nocat"]
    assert "has no video_id" in reasons["a:row-7"]
    assert "duplicate id '-dash' in b.csv line 2 (first in a.csv line 2)" in reasons["-dash"]
    assert "escapes the data root" in reasons["../../etc/passwd"]


def test_labels_folder_problems(tmp_path: Path):
    with pytest.raises(DatasetError, match="VPD labels folder not found: .*train_local_hit.csv"):
        load_vpd(tmp_path / "missing")
    with pytest.raises(DatasetError, match=r"no \.csv file in .*expected a folder with the VPD label CSVs"):
        load_vpd(tmp_path)
    (tmp_path / "old.csv").write_text("video_id,views,popularity_category\nabc,1,local-hit\n")
    with pytest.raises(DatasetError, match=r"old\.csv lacks the column\(s\) final_views, num_country, split"):
        load_vpd(tmp_path)
    (tmp_path / "old.csv").write_text("")
    with pytest.raises(DatasetError, match=r"old\.csv is empty"):
        load_vpd(tmp_path)


def test_missing_videos_folder(tmp_path: Path):
    with pytest.raises(DatasetError, match="VPD videos folder not found"):
        load_vpd(VPD, videos_dir=tmp_path / "nowhere")
