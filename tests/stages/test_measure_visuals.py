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
