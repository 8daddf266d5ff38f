import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.errors import BadInputError
from pipelines.records import Item
from pipelines.stages.extract_frames import ExtractFramesConfig, extract_frames, requested_times
from tests.conftest import make_ctx, sample_item
from tests.media import ffmpeg, index_gray, write_audio_only, write_index_clip, write_speech

FPS, N = 10, 50


@pytest.fixture(scope="module")
def index_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_index_clip(tmp_path_factory.mktemp("clip") / "index.mp4", fps=FPS, n_frames=N)


def run(path: Path, tmp_path: Path, **cfg: object):
    item = Item(item_id="clip", video=path.name, video_path=str(path))
    return extract_frames(item, ExtractFramesConfig(**cfg), make_ctx("extract_frames", tmp_path))


def check_frames(record, tolerance_s: float) -> None:
    for frame in record.frames:
        assert abs(frame.timestamp_s - frame.requested_s) <= tolerance_s + 1e-6, frame
        assert frame.timestamp_s == pytest.approx(frame.index / FPS, abs=1e-3)
        # the stored picture is really the frame at that index
        grey = np.asarray(Image.open(frame.path).convert("L"), dtype=float).mean()
        assert round((grey - index_gray(0)) / 4) == frame.index, (frame, grey)


@pytest.mark.parametrize("num_frames", [1, 7, 16])
def test_uniform_mode_hits_the_requested_times(index_clip: Path, tmp_path: Path, num_frames: int):
    record = run(index_clip, tmp_path, mode="uniform", num_frames=num_frames)
    assert record.video.num_frames == N and record.video.fps == pytest.approx(FPS)
    assert record.video.duration_s == pytest.approx(N / FPS, abs=1 / FPS)
    assert len(record.frames) == num_frames
    assert [f.requested_s for f in record.frames] == pytest.approx(requested_times(N / FPS, ExtractFramesConfig(num_frames=num_frames)), abs=1e-3)
    check_frames(record, tolerance_s=1 / FPS)


def test_fps_mode_and_its_cap(index_clip: Path, tmp_path: Path):
    record = run(index_clip, tmp_path / "a", mode="fps", fps=3, max_frames=100)
    assert [f.requested_s for f in record.frames] == pytest.approx([k / 3 for k in range(15)], abs=1e-3)
    check_frames(record, tolerance_s=1 / FPS)

    capped = run(index_clip, tmp_path / "b", mode="fps", fps=5, max_frames=4)
    assert len(capped.frames) == 4
    assert capped.frames[-1].requested_s > 3.5  # the cap spreads frames; it does not cut the end off
    check_frames(capped, tolerance_s=1 / FPS)


def test_real_video_is_resized_and_stored_as_jpeg(sample_rows, tmp_path: Path):
    row = next(r for r in sample_rows if r["id"] == "big_buck_bunny")
    record = extract_frames(sample_item(row), ExtractFramesConfig(num_frames=4, max_side=320), make_ctx("extract_frames", tmp_path))
    assert (record.video.width, record.video.height) == (1280, 720)
    for frame in record.frames:
        with Image.open(frame.path) as im:
            assert im.format == "JPEG" and im.size == (320, 180) == (frame.width, frame.height)


def test_start_past_the_end_is_a_clear_error(index_clip: Path, tmp_path: Path):
    with pytest.raises(BadInputError, match="past the end"):
        run(index_clip, tmp_path, mode="fps", start_s=60)


def test_shots_mode_takes_one_keyframe_per_shot(sample_rows, tmp_path: Path):
    row = next(r for r in sample_rows if r["id"] == "stroop_green")
    cut = row["truth"]["cuts_s"][0]
    record = extract_frames(sample_item(row), ExtractFramesConfig(mode="shots"), make_ctx("extract_frames", tmp_path))
    assert len(record.frames) == 2
    first, second = record.frames
    assert first.timestamp_s < cut < second.timestamp_s
    assert first.requested_s == pytest.approx(cut / 2, abs=0.1)
    capped = extract_frames(sample_item(row), ExtractFramesConfig(mode="shots", max_frames=1), make_ctx("extract_frames", tmp_path / "c"))
    first_is_longer = cut > row["truth"]["duration_s"] - cut
    assert len(capped.frames) == 1
    assert (capped.frames[0].timestamp_s < cut) == first_is_longer  # the longer shot is kept


def test_shot_keyframes_cap_keeps_the_longest_in_order():
    from pipelines.stages.extract_frames import shot_keyframe_times

    shots = [(0.0, 1.0), (1.0, 5.0), (5.0, 5.5), (5.5, 8.0)]
    assert shot_keyframe_times(shots, 10) == [0.5, 3.0, 5.25, 6.75]
    assert shot_keyframe_times(shots, 2) == [3.0, 6.75]


@pytest.mark.parametrize(("name", "cover_art"), [("podcast.m4a", True), ("voice.mp4", False)])
def test_audio_only_file_gives_a_record_without_frames(tmp_path: Path, name: str, cover_art: bool):
    """Sound without a video stream (cover art is a still, not a video) is not an error."""
    wav = tmp_path / "speech.wav"
    write_speech(wav, "Welcome to the morning podcast.")
    record = run(write_audio_only(tmp_path / name, wav, cover_art=cover_art), tmp_path)
    assert record.no_video and record.frames == [] and record.video is None


def test_file_with_neither_video_nor_audio_is_a_clear_error(tmp_path: Path):
    subtitles = tmp_path / "subs.srt"
    subtitles.write_text("1\n00:00:00,000 --> 00:00:02,000\nHello\n")
    path = tmp_path / "subs.mkv"
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(subtitles), str(path)], check=True)
    with pytest.raises(BadInputError, match=r"^subs.mkv has neither a video nor an audio stream"):
        run(path, tmp_path)
