from pathlib import Path
from typing import Any

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


def test_near_duplicate_readings_whose_digits_differ_stay_apart():
    """A running clock is read differently in each frame: merging its readings rewrote
    "00:00:00.840" (read at 0.84 s) as "00:00:00.280". Every reading keeps its own text and time;
    readings that differ only by OCR confusions or a dropped letter are still one text."""
    frames = [
        FrameText(frame_index=7, timestamp_s=0.28, lines=[line("00:00:00.280", 0.95), line("ESPRESSO", 0.9)]),
        FrameText(frame_index=21, timestamp_s=0.84, lines=[line("00:00:00.840", 0.8), line("ESPRESO", 0.7)]),
        FrameText(frame_index=35, timestamp_s=1.40, lines=[line("00:00:01.4O0", 0.9), line("SALE 5O%", 0.8)]),
        FrameText(frame_index=49, timestamp_s=1.96, lines=[line("00:00:01.400", 0.85), line("SALE 50%", 0.9)]),
    ]
    spans = merge_texts(frames, similarity=0.8)
    assert [(s.text, s.first_s, s.last_s, s.frame_indices) for s in spans] == [
        ("00:00:00.280", 0.28, 0.28, [7]), ("ESPRESSO", 0.28, 0.84, [7, 21]), ("00:00:00.840", 0.84, 0.84, [21]),
        ("00:00:01.4O0", 1.40, 1.96, [35, 49]), ("SALE 50%", 1.40, 1.96, [35, 49]),
    ]


def _clock_frames(tmp_path: Path, times: list[float]) -> tuple[list[str], Any]:
    """Frames of a burnt-in running clock (the known truth: the clock reads each frame's own
    time) as a frames record, and the readings."""
    import cv2
    import numpy as np

    from pipelines.records import FrameRef, FramesRecord, VideoInfo
    from tests.media import write_jpeg

    refs, truth = [], []
    for k, t in enumerate(times):
        reading = f"00:00:0{int(t)}.{round((t % 1) * 1000):03d}"
        rgb = np.full((360, 640, 3), 255, dtype=np.uint8)
        cv2.putText(rgb, reading, (60, 200), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (0, 0, 0), 4, cv2.LINE_AA)
        path = write_jpeg(tmp_path / f"clock_{k}.jpg", rgb)
        refs.append(FrameRef(index=round(t * 25), timestamp_s=t, requested_s=t, path=str(path), width=640, height=360))
        truth.append(reading)
    record = FramesRecord(item_id="clock", stage="extract_frames", stage_version=1, key="k", input_hash="i",
                          config_hash="c", mode="uniform",
                          video=VideoInfo(fps=25, num_frames=100, duration_s=4.0, width=640, height=360), frames=refs)
    return truth, record


def test_a_running_clock_keeps_every_reading_and_the_audit_finds_each(tmp_path: Path):
    """Real OCR on frames whose clock reads their own time: every reading is its own text, seen
    at its own time, and a claim quoting the later reading is supported, the other's time not
    rewritten into it."""
    from pipelines.audit.checks import VideoEvidence, check_claim
    from pipelines.records import Item

    truth, frames = _clock_frames(tmp_path, [0.28, 0.84, 1.4, 1.96])
    record = read_onscreen_text(Item(item_id="clock"), ReadOnscreenTextConfig(),
                                make_ctx("read_onscreen_text", tmp_path, {"extract_frames": frames}))
    assert [t.text for t in record.texts] == truth
    assert [(t.first_s, t.last_s) for t in record.texts] == [(f.timestamp_s, f.timestamp_s) for f in frames.frames]
    claim = 'The on-screen text reads "00:00:00.840".'
    verdict = check_claim(claim, "onscreen_text", VideoEvidence(ocr=record))
    assert verdict.verdict == "supported" and verdict.evidence[0].time_s == 0.84
