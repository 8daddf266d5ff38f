from pathlib import Path

import pytest

from pipelines.stages.measure_visuals import MeasureVisualsConfig, measure_visuals
from tests.conftest import make_ctx
from tests.stages.frames_fixtures import frames_of


@pytest.fixture(scope="module")
def measured(sample_rows, tmp_path_factory):
    out = {}
    for name in ("stroop_green", "astronaut_launch", "deep_field", "cat_sofa"):
        tmp = tmp_path_factory.mktemp(name)
        row = next(r for r in sample_rows if r["id"] == name)
        item, frames = frames_of(row, tmp, num_frames=8)
        out[name] = (row, measure_visuals(item, MeasureVisualsConfig(), make_ctx("measure_visuals", tmp, {"extract_frames": frames})))
    return out


def test_cuts_and_shots_match_truth(measured):
    for row, rec in measured.values():
        truth = row["truth"]["cuts_s"]
        assert rec.shot_count == len(truth) + 1 == len(rec.shots)
        assert rec.cuts_s == pytest.approx(truth, abs=0.081)  # one scanned frame at 12.5 fps


def test_frame_facts_follow_the_scenes(measured):
    row, rec = measured["stroop_green"]
    cut = row["truth"]["cuts_s"][0]
    card = [f for f in rec.frames if f.timestamp_s < cut]
    photo = [f for f in rec.frames if f.timestamp_s > cut + 0.1]
    assert card and photo
    assert all(f.dominant_colour == "red" and f.lighting_key == "high-key" for f in card)
    assert all(f.dominant_colour != "red" and f.lighting_key == "mid-key" for f in photo)
    _, deep = measured["deep_field"]
    assert all(f.lighting_key == "low-key" for f in deep.frames if f.timestamp_s < 2.5)


def test_faces_and_text_rendering(measured):
    _, cat = measured["cat_sofa"]
    assert cat.frames_with_faces == 0 and "No faces" in cat.text
    _, stroop = measured["stroop_green"]
    assert stroop.text.startswith("2 shots (cuts at 3.0 s).")
    assert "high-key" in stroop.text or "mid-key" in stroop.text
    assert stroop.motion_level in {"static", "low"}
    for rec in (cat, stroop):
        assert all(0 <= f.luminance <= 1 and 1000 <= f.colour_temperature_k <= 20000 for f in rec.frames)


def test_audio_only_item_gets_an_empty_record(tmp_path: Path):
    from pipelines.records import Item
    from pipelines.stages.extract_frames import ExtractFramesConfig, extract_frames
    from tests.media import write_audio_only, write_speech

    wav = tmp_path / "speech.wav"
    write_speech(wav, "Welcome to the morning podcast.")
    path = write_audio_only(tmp_path / "podcast.m4a", wav, cover_art=True)
    item = Item(item_id="podcast", video=path.name, video_path=str(path))
    frames = extract_frames(item, ExtractFramesConfig(), make_ctx("extract_frames", tmp_path))
    ctx = make_ctx("measure_visuals", tmp_path, {"extract_frames": frames})
    record = measure_visuals(item, MeasureVisualsConfig(), ctx)
    assert record.frames == [] and record.shots == [] and record.shot_count == 0 and record.motion is None
    assert record.lighting_key == record.dominant_colour == record.motion_level == "unknown"
    assert record.text == "No video stream: no visual facts."


def test_face_order_does_not_depend_on_opencv_threads(tmp_path: Path):
    """Eight faces, several of equal height: the cascade returns those in an order that
    changes with OpenCV's thread count; the record lists them largest first, then top to
    bottom and left to right."""
    import cv2
    import numpy as np
    from PIL import Image
    from skimage import data

    from pipelines.records import Item
    from tests.conftest import SAMPLES
    from tests.stages.frames_fixtures import single_frame_record

    face = data.astronaut()[0:250, 100:350]
    crowd = np.concatenate([np.concatenate([face] * 4, axis=1)] * 2, axis=0)
    path = tmp_path / "crowd.png"  # lossless, so the tie between equal faces survives
    Image.fromarray(crowd).save(path)
    frames = single_frame_record(path, crowd.shape[1], crowd.shape[0])
    item = Item(item_id="item", video="espresso.mp4", video_path=str(SAMPLES / "espresso.mp4"))
    default = cv2.getNumThreads()
    faces = []
    try:
        for threads in (1, max(default, 2)):
            cv2.setNumThreads(threads)
            record = measure_visuals(item, MeasureVisualsConfig(),
                                     make_ctx("measure_visuals", tmp_path, {"extract_frames": frames}))
            faces.append([(f.x, f.y, f.w, f.h) for f in record.frames[0].faces])
    finally:
        cv2.setNumThreads(default)
    assert len(faces[0]) == 8
    assert faces[0] == faces[1]
    assert faces[0] == sorted(faces[0], key=lambda f: (-f[3], f[1], f[0], f[2]))
