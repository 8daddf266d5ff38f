"""Valid media is never rejected, and damaged media says what it is.

Generated media with known truth (ffmpeg, espeak-ng) and the real bundled Whisper: audio
tracks shorter than the picture, a voice-over that starts late, audio-only files (a podcast's
.m4a with cover art, an .mp4 holding only AAC) through every text stage of the runner, and
MP4 files cut short.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.config import validate_config
from pipelines.errors import BadInputError
from pipelines.media import probe_media
from pipelines.records import Item, TranscriptRecord
from pipelines.runner import EXIT_ITEMS_FAILED, Runner
from pipelines.stages.transcribe_audio import TranscribeAudioConfig, transcribe_audio
from pipelines.store import RunStore
from tests.conftest import config_dict, copy_sample, make_ctx, write_manifest
from tests.media import truncate_file, write_audio_only, write_clip_with_audio, write_speech

SENTENCE = "Good morning. The rocket climbs into the blue sky."
WORDS = {"morning", "rocket", "climbs", "sky"}
LONG_SENTENCE = ("Good morning. Today I will show you how to make a perfect cup of espresso "
                 "at home with my old machine, and then we will clean it together.")
VIDEO_S = 20.0
TEXT_STAGES = ("extract_frames", "read_onscreen_text", "measure_visuals", "describe_frames", "transcribe_audio",
               "summarize")


def words(text: str) -> set[str]:
    return set(re.sub(r"[^a-z' ]+", " ", text.lower()).split())


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("speech") / "sentence.wav"
    assert write_speech(path, SENTENCE) < 0.2 * VIDEO_S  # fits the shortest audio track below
    return path


def transcribe(path: Path, pool, tmp_path: Path) -> TranscriptRecord:
    item = Item(item_id=path.stem, video=path.name, video_path=str(path))
    return transcribe_audio(item, TranscribeAudioConfig(), make_ctx("transcribe_audio", tmp_path, models=pool))


def assert_timed_inside(record: TranscriptRecord) -> None:
    assert record.segments
    for s in record.segments:
        assert 0 <= s.start_s <= s.end_s <= record.duration_s, s


@pytest.mark.parametrize(("ratio", "suffix"), [(0.2, ".mp4"), (0.5, ".mp4"), (0.9, ".mp4"), (0.5, ".mkv")])
def test_audio_shorter_than_the_video_is_transcribed_and_flagged(speech, whisper_pool, tmp_path: Path,
                                                                  ratio: float, suffix: str):
    """Music or a voice-over that ends before the picture is valid media (Matroska declares
    the audio's own length only in a per-stream tag): transcribed, flagged as ending early,
    not as damaged."""
    audio_s = ratio * VIDEO_S
    path = write_clip_with_audio(tmp_path / f"clip{suffix}", speech, VIDEO_S, audio_s)
    assert probe_media(path).duration_s == pytest.approx(VIDEO_S, abs=0.1)
    record = transcribe(path, whisper_pool, tmp_path)
    assert not record.audio_truncated and not record.no_audio
    assert record.audio_ends_early
    assert record.audio_duration_s == pytest.approx(audio_s, abs=0.1)
    assert record.duration_s == pytest.approx(audio_s, abs=0.1)
    assert WORDS <= words(record.text), record.text
    assert_timed_inside(record)


def test_audio_ending_at_one_second_of_five_in_matroska_is_flagged(speech, whisper_pool, tmp_path: Path):
    path = write_clip_with_audio(tmp_path / "short.mkv", speech, 5.0, 1.1)
    record = transcribe(path, whisper_pool, tmp_path)
    assert record.audio_ends_early and not record.audio_truncated and not record.no_audio
    assert record.duration_s == pytest.approx(1.1, abs=0.1)


def test_voice_over_that_starts_late_is_timed_on_the_video_timeline(speech, whisper_pool, tmp_path: Path):
    path = write_clip_with_audio(tmp_path / "late.mp4", speech, VIDEO_S, 5.0, audio_start_s=12.0)
    record = transcribe(path, whisper_pool, tmp_path)
    assert not record.audio_truncated and record.audio_ends_early  # it ends at 17 s of 20
    assert WORDS <= words(record.text), record.text
    assert record.segments[0].start_s == pytest.approx(12.0, abs=0.3)
    assert_timed_inside(record)
    assert record.duration_s <= VIDEO_S + 0.1


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 9 s of speech over 10 s of picture, moov atom at the front (``+faststart``)."""
    folder = tmp_path_factory.mktemp("long")
    wav = folder / "long.wav"
    speech_s = write_speech(wav, LONG_SENTENCE)
    assert 7.0 < speech_s < 10.0
    path = write_clip_with_audio(folder / "long.mp4", wav, 10.0, 10.0)
    assert path.read_bytes().index(b"moov") < path.read_bytes().index(b"mdat")
    return path


def test_truncated_file_keeps_what_was_decoded_and_is_flagged(long_clip, whisper_pool, tmp_path: Path):
    path = truncate_file(long_clip, tmp_path / "cut.mp4", keep=0.5)
    record = transcribe(path, whisper_pool, tmp_path)
    assert record.audio_truncated and not record.no_audio
    assert not record.audio_ends_early  # the damage is flagged as such, not as valid media
    assert record.audio_duration_s == pytest.approx(10.0, abs=0.1)  # what the stream declares
    assert 1.0 < record.duration_s < 0.9 * 10.0 - 0.5  # what was decoded
    assert {"good", "morning"} <= words(record.text), record.text
    assert "clean" not in words(record.text)  # the end of the sentence was cut off
    assert_timed_inside(record)


def test_audio_of_which_nothing_decodes_is_a_clear_error(long_clip, whisper_pool, tmp_path: Path):
    data = long_clip.read_bytes()
    path = tmp_path / "header_only.mp4"
    path.write_bytes(data[: data.index(b"mdat") + 16])
    with pytest.raises(BadInputError, match=r"but nothing decodes \(truncated or corrupt file\)$") as info:
        transcribe(path, whisper_pool, tmp_path)
    assert "\n" not in str(info.value)


def test_cover_art_is_not_a_video_stream(speech, tmp_path: Path):
    probe = probe_media(write_audio_only(tmp_path / "podcast.m4a", speech, cover_art=True))
    assert probe.has_audio and not probe.has_video


@pytest.fixture(scope="module")
def audio_only_run(speech, tmp_path_factory: pytest.TempPathFactory):
    """Audio-only files beside a video and a text file named .mp4, through every text stage."""
    tmp_path = tmp_path_factory.mktemp("audio_only")
    media = tmp_path / "media"
    media.mkdir()
    write_audio_only(media / "podcast.m4a", speech, cover_art=True)
    write_audio_only(media / "voice.mp4", speech)
    (media / "notes.mp4").write_text("this is a text file, not a video\n")
    rows = [
        {"id": "podcast", "path": "podcast.m4a", "title": "Morning podcast"},
        {"id": "voice", "path": "voice.mp4", "title": "Voice memo"},
        {"id": "video", "path": copy_sample("espresso.mp4", media), "title": "Espresso"},
        {"id": "textfile", "path": "notes.mp4", "title": "Text named mp4"},
        {"id": "textonly", "path": "", "title": "Sourdough notes", "description": "How I bake bread at home"},
    ]
    stages = {name: {} for name in TEXT_STAGES} | {"extract_frames": {"num_frames": 4}}
    cfg = validate_config(config_dict(write_manifest(media, rows), stages=stages))
    return Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", run_id="r",
                  show_progress=False).run()


@pytest.mark.parametrize("item_id", ["podcast", "voice"])
def test_audio_only_file_flows_through_every_stage(audio_only_run, item_id: str):
    records = {stage: audio_only_run.records[stage].get(item_id) for stage in TEXT_STAGES}
    assert all(records.values()), [s for s, r in records.items() if r is None]
    frames = records["extract_frames"]
    assert frames.no_video and frames.frames == [] and frames.video is None
    assert records["read_onscreen_text"].frames == [] and records["read_onscreen_text"].texts == []
    visuals = records["measure_visuals"]
    assert visuals.frames == [] and visuals.shot_count == 0 and visuals.lighting_key == "unknown"
    assert records["describe_frames"].descriptions == []
    transcript = records["transcribe_audio"]
    assert not transcript.no_audio and not transcript.audio_truncated
    assert WORDS <= words(transcript.text), transcript.text
    summary = records["summarize"]
    assert summary.flags == ["no_video"]
    assert "(the file has no video stream: sound only)" in summary.text
    assert "rocket climbs" in summary.text.lower()


def test_an_item_without_a_media_file_is_text_only_and_flagged(audio_only_run):
    """A manifest row with an empty path: every stage gives a record, none opens a file, and
    its text is its title and description alone."""
    records = {stage: audio_only_run.records[stage].get("textonly") for stage in TEXT_STAGES}
    assert all(records.values()), [s for s, r in records.items() if r is None]
    assert records["extract_frames"].no_video and records["extract_frames"].frames == []
    assert records["transcribe_audio"].no_audio and records["transcribe_audio"].segments == []
    summary = records["summarize"]
    assert summary.flags == ["no_media"]
    assert summary.sections == ["title", "description"], summary.text
    assert "Sourdough notes" in summary.text and "bake bread" in summary.text
    assert "audio" not in summary.text and "video stream" not in summary.text


def test_video_beside_audio_only_items_is_unchanged(audio_only_run):
    frames = audio_only_run.records["extract_frames"]["video"]
    assert not frames.no_video and len(frames.frames) == 4 and frames.video is not None
    assert len(audio_only_run.records["describe_frames"]["video"].descriptions) == 4
    assert "espresso" in audio_only_run.records["summarize"]["video"].text.lower()


def test_a_text_file_named_mp4_is_still_a_one_line_error(audio_only_run):
    assert audio_only_run.exit_code == EXIT_ITEMS_FAILED
    store = RunStore(audio_only_run.run_dir)
    failed = {e.item_id: e.reason for e in store.errors("extract_frames")}
    assert set(failed) == {"textfile"}
    assert "cannot decode video notes.mp4: not a readable video file" in failed["textfile"]
    assert "\n" not in failed["textfile"]
    transcribe_failed = {e.item_id: e.reason for e in store.errors("transcribe_audio")}
    assert "cannot read media file notes.mp4" in transcribe_failed["textfile"]
