"""The real bundled Whisper (tiny.en, faster-whisper) on the samples' espeak-ng speech."""

import re
from pathlib import Path

import jiwer
import pytest

from pipelines.stages.transcribe_audio import TranscribeAudioConfig, transcribe_audio
from tests.conftest import make_ctx, sample_item

NUMBERS = "zero one two three four five six seven eight nine ten".split()


def normalise(text: str) -> str:
    text = re.sub(r"\b(\d|10)\b", lambda m: NUMBERS[int(m.group(1))], text.lower())
    return " ".join(re.sub(r"[^a-z' ]+", " ", text).split())


@pytest.fixture(scope="module")
def transcripts(sample_rows, whisper_pool, tmp_path_factory):
    cfg = TranscribeAudioConfig()
    out = {}
    for row in sample_rows:
        ctx = make_ctx("transcribe_audio", tmp_path_factory.mktemp("asr"), models=whisper_pool)
        out[row["id"]] = (row, transcribe_audio(sample_item(row), cfg, ctx))
    return out


def test_word_error_rate_on_generated_speech(transcripts):
    pairs = [(normalise(row["truth"]["speech"]), normalise(rec.text)) for row, rec in transcripts.values() if row["truth"].get("speech")]
    assert len(pairs) >= 8
    wer = jiwer.wer([r for r, _ in pairs], [h for _, h in pairs])
    print(f"corpus WER of bundled whisper tiny.en: {wer:.3f}")
    assert wer <= 0.25
    for ref, hyp in pairs:  # no clip is a wholesale miss
        assert jiwer.wer(ref, hyp) <= 0.5, (ref, hyp)


def test_segments_are_timed_within_the_clip(transcripts):
    for row, rec in transcripts.values():
        if not row["truth"].get("speech"):
            continue
        assert rec.segments and not rec.no_audio
        assert rec.language == "en"
        assert rec.duration_s == pytest.approx(row["truth"]["duration_s"], abs=0.2)
        starts = [s.start_s for s in rec.segments]
        assert starts == sorted(starts)
        assert all(0 <= s.start_s < s.end_s <= rec.duration_s + 0.5 for s in rec.segments)
        assert rec.segments[0].start_s <= row["truth"]["speech_start_s"] + 1.0


def test_video_without_audio_is_flagged_not_failed(transcripts):
    silent = [(row, rec) for row, rec in transcripts.values() if not row["truth"].get("has_audio")]
    assert silent
    for _, rec in silent:
        assert rec.no_audio and rec.segments == [] and rec.text == ""


def test_model_loads_once_for_all_items(transcripts, whisper_pool):
    assert [load["model"].split(":")[1] for load in whisper_pool.loads] == ["faster-whisper"]


def test_unknown_local_model_path_is_a_clear_error(sample_rows, tmp_path: Path):
    from pipelines.errors import ConfigError

    row = next(r for r in sample_rows if r["truth"].get("speech"))
    with pytest.raises(ConfigError, match="cannot load faster-whisper model"):
        transcribe_audio(sample_item(row), TranscribeAudioConfig(model=str(tmp_path / "nope")), make_ctx("transcribe_audio", tmp_path))


def test_recomputing_gives_the_same_transcript(sample_rows, whisper_pool, tmp_path: Path):
    """Big Buck Bunny has no words, only sounds: the case where Whisper's sampling fallback
    gave 1, 2 or 5 segments on different runs (one ending at 7.0 s on a 5.3 s clip)."""
    row = next(r for r in sample_rows if r["id"] == "big_buck_bunny")
    runs = [
        transcribe_audio(sample_item(row), TranscribeAudioConfig(), make_ctx("transcribe_audio", tmp_path / str(i),
                                                                             models=whisper_pool))
        for i in range(3)
    ]
    first = runs[0].model_dump(exclude={"created_at", "seconds"})
    assert all(r.model_dump(exclude={"created_at", "seconds"}) == first for r in runs[1:])
    assert all(0 <= s.start_s <= s.end_s <= runs[0].duration_s for s in runs[0].segments)


def test_decoding_options_are_deterministic_unless_the_fallback_is_asked_for(sample_rows, whisper_pool, monkeypatch,
                                                                            tmp_path: Path):
    from pipelines.models.asr import FALLBACK_TEMPERATURES

    row = next(r for r in sample_rows if r["id"] == "espresso")
    ctx = make_ctx("transcribe_audio", tmp_path, models=whisper_pool)
    transcribe_audio(sample_item(row), TranscribeAudioConfig(), ctx)  # the recognizer is in the pool now
    (recognizer,) = [m for key, m in whisper_pool.loaded().items() if key.startswith("asr:")]
    seen: list[dict] = []
    real = recognizer.model.transcribe

    def spy(audio, **options):
        seen.append(options)
        return real(audio, **options)

    monkeypatch.setattr(recognizer.model, "transcribe", spy)
    plain = transcribe_audio(sample_item(row), TranscribeAudioConfig(), ctx)
    fallback = transcribe_audio(sample_item(row), TranscribeAudioConfig(temperature_fallback=True), ctx)
    assert seen[0]["temperature"] == 0.0 and seen[0]["condition_on_previous_text"] is False
    assert tuple(seen[1]["temperature"]) == FALLBACK_TEMPERATURES
    assert "espresso" in plain.text.lower() and "espresso" in fallback.text.lower()


def test_segments_are_clamped_to_the_audio():
    from pipelines.models.asr import Segment, clamp_segments

    clamped = clamp_segments([Segment(-0.02, 1.0, "a"), Segment(4.8, 7.0, "b"), Segment(5.5, 5.2, "c")], 5.312)
    assert [(s.start_s, s.end_s, s.text) for s in clamped] == [(0.0, 1.0, "a"), (4.8, 5.312, "b"), (5.312, 5.312, "c")]
