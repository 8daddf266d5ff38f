from pathlib import Path

from pipelines.records import FrameText, OcrLineRef
from pipelines.stages.read_onscreen_text import ReadOnscreenTextConfig, merge_texts, read_onscreen_text
from tests.conftest import make_ctx
from tests.stages.frames_fixtures import frames_of


def line(text: str, conf: float = 0.9) -> OcrLineRef:
    return OcrLineRef(text=text, confidence=conf, box=[[0, 0], [1, 0], [1, 1], [0, 1]])


def test_texts_are_merged_across_frames():
    frames = [
        FrameText(frame_index=0, timestamp_s=0.0, lines=[line("SALE 5O%", 0.7), line("Shop")]),
        FrameText(frame_index=5, timestamp_s=0.5, lines=[line("SALE 50%", 0.95)]),
        FrameText(frame_index=9, timestamp_s=0.9, lines=[line("shop!"), line("Other")]),
    ]
    spans = merge_texts(frames, similarity=0.8)
    assert [(s.text, s.first_s, s.last_s, s.frame_indices) for s in spans] == [
        ("SALE 50%", 0.0, 0.5, [0, 5]), ("Shop", 0.0, 0.9, [0, 9]), ("Other", 0.9, 0.9, [9]),
    ]


def test_sample_clip_text_matches_truth(sample_rows, tmp_path: Path):
    for name in ("stroop_green", "motorcycle_ride", "horse_silent"):
        row = next(r for r in sample_rows if r["id"] == name)
        item, frames = frames_of(row, tmp_path, num_frames=6)
        record = read_onscreen_text(item, ReadOnscreenTextConfig(),
                                    make_ctx("read_onscreen_text", tmp_path, {"extract_frames": frames}))
        truth = [s["onscreen_text"] for s in row["truth"]["scenes"] if s["onscreen_text"]]
        assert [t.text for t in record.texts] == truth, name
        for span in record.texts:  # seen only while its scene is on screen
            scene = next(s for s in row["truth"]["scenes"] if s["onscreen_text"] == span.text)
            assert scene["start_s"] - 0.05 <= span.first_s <= span.last_s <= scene["end_s"]
        assert len(record.frames) == 6


def test_item_without_frames_gets_an_empty_record_and_loads_no_model(tmp_path: Path):
    from pipelines.records import FramesRecord, Item
    from pipelines.stages.registry import ModelPool

    frames = FramesRecord(item_id="podcast", stage="extract_frames", stage_version=2, key="k", input_hash="i",
                          config_hash="c", mode="uniform", video=None, frames=[], no_video=True)
    pool = ModelPool()
    record = read_onscreen_text(Item(item_id="podcast"), ReadOnscreenTextConfig(),
                                make_ctx("read_onscreen_text", tmp_path, {"extract_frames": frames}, models=pool))
    assert record.frames == [] and record.texts == [] and record.text == ""
    assert pool.loads == []
