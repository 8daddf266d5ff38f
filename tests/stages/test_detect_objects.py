"""detect_objects on the sample clips' real frames, and the objects in the frame sentences."""

from pathlib import Path

import pytest

from pipelines.stages.describe_frames import DescribeFramesConfig, describe_frames
from pipelines.stages.detect_objects import DetectObjectsConfig, detect_objects
from tests.conftest import make_ctx
from tests.stages.frames_fixtures import frames_of


@pytest.fixture(scope="module")
def detected(sample_rows, tmp_path_factory):
    out = {}
    for name in ("espresso", "cat_sofa", "astronaut_launch"):
        tmp = tmp_path_factory.mktemp(name)
        row = next(r for r in sample_rows if r["id"] == name)
        item, frames = frames_of(row, tmp, num_frames=4)
        out[name] = (item, frames, detect_objects(item, DetectObjectsConfig(), make_ctx("detect_objects", tmp,
                                                                                          {"extract_frames": frames})))
    return out


def test_objects_follow_the_scenes(detected):
    expected = {"espresso": "cup", "cat_sofa": "cat", "astronaut_launch": "person"}
    for name, label in expected.items():
        item, frames, record = detected[name]
        assert len(record.frames) == len(frames.frames)
        scenes = item.truth["scenes"]
        first = scenes[0]
        in_photo = [f for f in record.frames if first["start_s"] <= f.timestamp_s < first["end_s"]]
        assert in_photo and all(label in {o.label for o in f.objects} for f in in_photo), name
        assert record.counts[label] >= len(in_photo)
        assert f"{label} in " in record.text
        for f in record.frames:
            assert all(o.score >= 0.5 and len(o.box) == 4 and o.position in {"left", "centre", "right"} for o in f.objects)


def test_frame_sentences_name_the_objects(detected, tmp_path: Path):
    item, frames, objects = detected["espresso"]
    ctx = make_ctx("describe_frames", tmp_path, {"extract_frames": frames, "detect_objects": objects})
    (record,) = describe_frames([item], DescribeFramesConfig(), [ctx])
    photo = [d for d in record.descriptions if d.timestamp_s < item.truth["cuts_s"][0]]
    assert photo and all("objects: " in d.text and "cup" in d.text for d in photo)


def test_audio_only_file_gets_an_empty_record(tmp_path: Path):
    from pipelines.records import Item
    from pipelines.stages.extract_frames import ExtractFramesConfig, extract_frames
    from tests.media import write_audio_only, write_speech

    wav = tmp_path / "speech.wav"
    write_speech(wav, "Hello and welcome.")
    path = write_audio_only(tmp_path / "talk.m4a", wav)
    item = Item(item_id="talk", video=path.name, video_path=str(path))
    frames = extract_frames(item, ExtractFramesConfig(), make_ctx("extract_frames", tmp_path))
    record = detect_objects(item, DetectObjectsConfig(), make_ctx("detect_objects", tmp_path, {"extract_frames": frames}))
    assert record.frames == [] and record.counts == {} and record.text == "No video stream: no objects detected."
