from pathlib import Path
from types import SimpleNamespace

from pipelines.records import Item, TranscriptRecord, TranscriptSegment
from pipelines.stages.summarize import SummarizeConfig, clock, summarize
from tests.conftest import make_ctx

PROV = dict(item_id="v", stage="transcribe_audio", stage_version=1, key="k", input_hash="i", config_hash="c")
ITEM = Item(item_id="v", title="  My   video\n", description="About things", metadata={"channel": "x", "views": 12})


def test_sections_in_order_with_timestamps(tmp_path: Path):
    transcript = TranscriptRecord(**PROV, segments=[TranscriptSegment(start_s=61.25, end_s=63.0, text=" hello  world ")])
    frames = SimpleNamespace(descriptions=[
        SimpleNamespace(timestamp_s=t, text=text)
        for t, text in [(2.0, "a cup"), (0.5, "a cat\non a sofa"), (1.0, "a cat on  a sofa"), (3.0, "a cat on a sofa")]
    ])
    rec = summarize(ITEM, SummarizeConfig(), make_ctx("summarize", tmp_path, {"transcribe_audio": transcript, "describe_frames": frames}))
    assert rec.sections == ["title", "description", "metadata", "frames", "speech"]
    assert rec.text == (
        "Title: My video\n\nDescription: About things\n\nMetadata: channel: x; views: 12\n\n"
        "Frames:\n[00:00.5-00:01.0] a cat on a sofa\n[00:02.0] a cup\n[00:03.0] a cat on a sofa\n\n"
        "Speech:\n[01:01.2-01:03.0] hello world"
    )


def test_no_audio_and_missing_parts(tmp_path: Path):
    silent = TranscriptRecord(**PROV, no_audio=True)
    rec = summarize(Item(item_id="v"), SummarizeConfig(timestamps=False), make_ctx("summarize", tmp_path, {"transcribe_audio": silent}))
    assert rec.text == "Title: (untitled)\n\nSpeech:\n(the video has no audio track)"
    alone = summarize(ITEM, SummarizeConfig(include_metadata=False), make_ctx("summarize", tmp_path))
    assert alone.sections == ["title", "description"]


def test_long_text_is_cut(tmp_path: Path):
    rec = summarize(Item(item_id="v", description="word " * 500), SummarizeConfig(max_chars=300), make_ctx("summarize", tmp_path))
    assert len(rec.text) == 300 and rec.text.endswith("…")


def test_clock():
    assert clock(0) == "00:00.0" and clock(59.96) == "01:00.0" and clock(-1) == "00:00.0"
    assert clock(125.4) == "02:05.4"
