from pathlib import Path
from types import SimpleNamespace

import pytest

from pipelines.budget import CUT_MARK
from pipelines.config import validate_config
from pipelines.errors import ConfigError
from pipelines.records import (
    FramesRecord,
    Item,
    OnscreenTextRecord,
    TextSpan,
    TranscriptRecord,
    TranscriptSegment,
)
from pipelines.stages.summarize import SummarizeConfig, clock, summarize
from tests.conftest import make_ctx

PROV = dict(item_id="v", stage="transcribe_audio", stage_version=1, key="k", input_hash="i", config_hash="c")
ITEM = Item(item_id="v", title="  My   video\n", description="About things", metadata={"channel": "x", "views": 12})


def frames(*pairs: tuple[float, str]) -> SimpleNamespace:
    return SimpleNamespace(descriptions=[SimpleNamespace(timestamp_s=t, text=text) for t, text in pairs])


def test_sections_in_order_with_timestamps(tmp_path: Path):
    transcript = TranscriptRecord(**PROV, segments=[TranscriptSegment(start_s=61.25, end_s=63.0, text=" hello  world ")])
    described = frames((2.0, "a cup"), (0.5, "a cat\non a sofa"), (1.0, "a cat on  a sofa"), (3.0, "a cat on a sofa"))
    ocr = OnscreenTextRecord(**{**PROV, "stage": "read_onscreen_text"}, frames=[],
                             texts=[TextSpan(text="SALE", confidence=0.9, first_s=2.0, last_s=3.0, frame_indices=[2])])
    cfg = SummarizeConfig(metadata_fields=["channel"])
    rec = summarize(ITEM, cfg, make_ctx("summarize", tmp_path, {"transcribe_audio": transcript, "describe_frames": described,
                                                                "read_onscreen_text": ocr}))
    assert rec.sections == ["title", "description", "metadata", "frames", "onscreen_text", "speech"]
    assert rec.text == (
        "Title: My video\n\nDescription: About things\n\nMetadata: channel: x\n\n"
        "Frames:\n[00:00.5-00:01.0] a cat on a sofa\n[00:02.0] a cup\n[00:03.0] a cat on a sofa\n\n"
        'On-screen text: [00:02.0] "SALE"\n\n'
        "Speech:\n[01:01.2-01:03.0] hello world"
    )
    assert [p.name for p in rec.parts] == rec.sections and rec.cut == []


def test_metadata_is_shown_only_when_named(tmp_path: Path):
    """Before, every metadata field (a view count, a label column) went into the text."""
    rec = summarize(ITEM, SummarizeConfig(), make_ctx("summarize", tmp_path))
    assert rec.sections == ["title", "description"] and "12" not in rec.text and "channel" not in rec.text


def test_label_defining_fields_are_refused_at_config_time(tmp_path: Path):
    config = {"name": "t", "task": "popularity", "dataset": {"path": "m.jsonl"},
              "stages": {"summarize": {"metadata_fields": ["tags", "View_Count"]}}}
    with pytest.raises(ConfigError, match="'View_Count' define the popularity label"):
        validate_config(config)
    config["stages"]["summarize"]["metadata_fields"] = ["labels.popularity"]
    with pytest.raises(ConfigError, match="define the popularity label"):
        validate_config(config)


def test_no_audio_no_video_and_missing_parts(tmp_path: Path):
    silent = TranscriptRecord(**PROV, no_audio=True)
    rec = summarize(Item(item_id="v"), SummarizeConfig(timestamps=False), make_ctx("summarize", tmp_path, {"transcribe_audio": silent}))
    assert rec.text == "Title: (untitled)\n\nSpeech:\n(the video has no audio track)"
    assert rec.flags == ["no_audio"]
    sound_only = FramesRecord(**{**PROV, "stage": "extract_frames"}, video=None, mode="uniform", frames=[], no_video=True)
    speech = TranscriptRecord(**PROV, segments=[TranscriptSegment(start_s=0, end_s=2, text="welcome to the podcast")],
                              audio_truncated=True)
    podcast = ITEM.model_copy(update={"video": "podcast.m4a", "video_path": "/media/podcast.m4a"})  # a file: sound only
    rec = summarize(podcast, SummarizeConfig(), make_ctx("summarize", tmp_path, {"extract_frames": sound_only,
                                                                                 "transcribe_audio": speech}))
    assert "no video stream" in rec.text and "welcome to the podcast" in rec.text and "ends early" in rec.text
    assert rec.flags == ["no_video", "audio_truncated"]
    music_stops = TranscriptRecord(**PROV, duration_s=1.1, segments=[TranscriptSegment(start_s=0, end_s=1, text="hi")],
                                   audio_ends_early=True)
    rec = summarize(ITEM, SummarizeConfig(), make_ctx("summarize", tmp_path, {"transcribe_audio": music_stops}))
    assert "(the audio ends at 00:01.1; nothing is heard after that)" in rec.text
    assert rec.flags == ["audio_ends_early"]
    text_only = summarize(ITEM, SummarizeConfig(metadata_fields=["channel"]),  # no media file: its text alone
                          make_ctx("summarize", tmp_path, {"extract_frames": sound_only, "transcribe_audio": silent}))
    assert text_only.flags == ["no_media"] and text_only.sections == ["title", "description", "metadata"]


def test_every_section_keeps_a_share_when_the_text_is_cut(tmp_path: Path):
    """A long frames section no longer pushes the speech out of the budget."""
    described = frames(*[(float(i), f"frame {i} shows a long and detailed street scene with people") for i in range(60)])
    speech = TranscriptRecord(**PROV, segments=[TranscriptSegment(start_s=70, end_s=80, text="the key sentence " * 40)])
    rec = summarize(Item(item_id="v", title="t", description="word " * 300), SummarizeConfig(max_chars=900),
                    make_ctx("summarize", tmp_path, {"describe_frames": described, "transcribe_audio": speech}))
    assert len(rec.text) <= 900
    assert rec.sections == ["title", "description", "frames", "speech"]
    assert set(rec.cut) == {"description", "frames", "speech"}
    speech_text = rec.text[rec.text.index("Speech:"):]
    assert "the key sentence" in speech_text and speech_text.endswith(CUT_MARK)
    for part, block in zip(rec.parts, rec.text.split("\n\n")):  # cut on word boundaries, never inside a word
        if block.endswith(CUT_MARK):
            kept = block[len(part.heading) + 2: -len(CUT_MARK)]
            assert part.text.startswith(kept) and part.text[len(kept)].isspace()
    full = rec.parts[-1].text
    assert len(full) > 600 and "[…]" not in full  # the record keeps every section whole


def test_clock():
    assert clock(0) == "00:00.0" and clock(59.96) == "01:00.0" and clock(-1) == "00:00.0"
    assert clock(125.4) == "02:05.4"


def test_ablation_switches_drop_or_scramble_one_modality(tmp_path: Path):
    from pipelines.stages.summarize import BLANK_FRAME, Ablation

    transcript = TranscriptRecord(**PROV, segments=[TranscriptSegment(start_s=0.0, end_s=2.0, text="hello there")])
    described = frames(*[(float(t), f"scene {t}") for t in range(8)])
    inputs = {"transcribe_audio": transcript, "describe_frames": described}

    def text(**switches: str) -> str:
        cfg = SummarizeConfig(metadata_fields=["channel"], ablation=Ablation(**switches))
        return summarize(ITEM, cfg, make_ctx("summarize", tmp_path, inputs)).text

    full = text()
    assert "Speech:" in full and "Frames:" in full and "Description:" in full
    assert "Speech:" not in text(speech="none") and "Frames:" not in text(frames="none")
    title_only = text(metadata="title_only")
    assert "Title: My video" in title_only and "Description" not in title_only and "Metadata" not in title_only
    blank = text(frames="blank")
    assert blank.count(BLANK_FRAME) == 1 and "[00:00.0-00:07.0] " + BLANK_FRAME in blank  # runs merge as usual
    shuffled = text(frames="shuffled", speech="none")
    lines = [l for l in shuffled.splitlines() if l.startswith("[00:0")]
    assert [l.split("] ")[0] for l in lines] == [f"[00:0{t}.0" for t in range(8)]  # the same timestamps, in order
    assert sorted(l.split("] ")[1] for l in lines) == [f"scene {t}" for t in range(8)]
    assert [l.split("] ")[1] for l in lines] != [f"scene {t}" for t in range(8)]  # dealt out in another order
    assert text(frames="shuffled", speech="none") == shuffled  # seeded by the item id


def test_objects_and_sound_sections_are_not_labelled_twice(tmp_path: Path):
    from pipelines.records import ObjectsRecord
    from pipelines.stages.describe_audio import AudioEventsRecord

    objects = ObjectsRecord(**{**PROV, "stage": "detect_objects"}, frames=[], counts={"cup": 3},
                            text="Objects detected: cup in 3 of 8 frames.")
    sound = AudioEventsRecord(**{**PROV, "stage": "describe_audio"}, text="Sound: speech 0.0–5.0 s.")
    rec = summarize(ITEM, SummarizeConfig(), make_ctx("summarize", tmp_path, {"detect_objects": objects,
                                                                              "describe_audio": sound}))
    assert "Objects: cup in 3 of 8 frames." in rec.text and "Sound: speech 0.0–5.0 s." in rec.text
    assert "Objects detected" not in rec.text and "Sound: Sound" not in rec.text
