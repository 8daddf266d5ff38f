"""measure_visuals per shot on generated film clips whose framing and camera are known, and
on the media that has neither (no people, black, one frame)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipelines.datasets.manifest import load_manifest
from pipelines.datasets.synthetic_film import FILM_SPECS, FilmShot, FilmSpec, generate_film_samples, shot_at
from pipelines.records import Item
from pipelines.stages.extract_frames import ExtractFramesConfig, extract_frames
from pipelines.stages.measure_visuals import MeasureVisualsConfig, measure_visuals
from tests.conftest import make_ctx
from tests.media import ffmpeg

pytestmark = pytest.mark.slow


def measured(item: Item, tmp: Path):
    frames = extract_frames(item, ExtractFramesConfig(num_frames=6), make_ctx("extract_frames", tmp / item.item_id))
    return measure_visuals(item, MeasureVisualsConfig(), make_ctx("measure_visuals", tmp, {"extract_frames": frames}))


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("film")
    specs = [s for s in FILM_SPECS if s.item_id in ("film_launch_day", "film_temple_survey")]
    manifest = generate_film_samples(tmp, specs=specs, include_bunny=False)
    loaded = load_manifest(manifest)
    assert not loaded.errors
    return {item.item_id: (item, measured(item, tmp)) for item in loaded.items}


def test_every_shot_scale_and_movement_as_constructed(film):
    for item, record in film.values():
        truth = item.labels["shots"]
        assert record.cuts_s == pytest.approx([s["start_s"] for s in truth[1:]], abs=0.081)
        for shot in record.shots:
            annotated = shot_at(truth, (shot.start_s + shot.end_s) / 2)
            assert (shot.shot_scale, shot.camera_movement) == (annotated["shot_scale"], annotated["camera_movement"]), \
                f"{item.item_id} {shot.start_s}-{shot.end_s}"


def test_scale_evidence_and_text(film):
    _, launch = film["film_launch_day"]
    assert [s.scale_basis for s in launch.shots] == ["face", "face", "face", "person", "person"]
    assert 0.6 < launch.shots[0].scale_share and 0.3 < launch.shots[3].scale_share < 0.8
    assert launch.shot_scales == {"extreme close-up": 1, "close-up": 1, "medium": 1, "full": 1, "long": 1}
    assert "(1) 0.0–2.0 s: extreme close-up, static" in launch.text
    _, survey = film["film_temple_survey"]
    assert all(s.shot_scale is None and s.scale_basis == "none" for s in survey.shots)  # no people: unknown
    assert survey.camera_movements == {m: 1 for m in ("pan right", "pan left", "tilt up", "tilt down", "zoom in",
                                                      "zoom out")}
    assert survey.shots[0].camera_dx < 0 < survey.shots[1].camera_dx  # the picture moves against the pan


def _clip(path: Path, frames: list[np.ndarray], fps: int = 25) -> Item:
    h, w = frames[0].shape[:2]
    proc = subprocess.Popen([ffmpeg(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                             f"{w}x{h}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
                            stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for frame in frames:
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return Item(item_id=path.stem, video=path.name, video_path=str(path))


def test_black_and_one_frame_clips_give_unknowns(tmp_path: Path):
    black = measured(_clip(tmp_path / "black.mp4", [np.zeros((360, 640, 3), np.uint8)] * 50), tmp_path)
    assert black.shot_count == 1 and black.lighting_key == "low-key"
    shot = black.shots[0]
    assert (shot.shot_scale, shot.camera_movement, shot.flow_pairs) == (None, "unknown", 0)
    assert black.shot_scales == {} and black.camera_movements == {}

    from pipelines.datasets.synthetic_film import frame_still

    one = measured(_clip(tmp_path / "one.mp4", [frame_still("face:astronaut:close-up")]), tmp_path)
    assert one.shot_count == 1
    assert one.shots[0].shot_scale == "close-up" and one.shots[0].camera_movement == "unknown"


def test_no_people_and_no_audio(tmp_path: Path):
    spec = FilmSpec("still_life", "Still life", 2000, ["drama"], 1000, "", [FilmShot("photo:coffee", duration_s=1.5)])
    manifest = generate_film_samples(tmp_path, specs=[spec], include_bunny=False)
    (item,) = load_manifest(manifest).items
    record = measured(item, tmp_path)
    assert record.shots[0].shot_scale is None and record.shots[0].camera_movement == "static"
    assert record.frames_with_faces == 0 and all(f.people == 0 for f in record.frames)
