"""read_onscreen_text: OCR of every extracted frame (RapidOCR, bundled PP-OCR models).

Each frame keeps its lines with boxes and confidence; ``texts`` merges the same text seen in
several frames (case, spacing and punctuation ignored, near-identical readings such as
"5O"/"50" merged when their similarity is at least ``merge_similarity``), keeping the
most confident reading, in order of first appearance. An item without frames (an audio-only
file) gives an empty record.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from pydantic import Field

from pipelines.media import load_frame
from pipelines.records import FrameText, FramesRecord, Item, OcrLineRef, OnscreenTextRecord, TextSpan
from pipelines.stages.registry import StageConfig, StageContext, stage


class ReadOnscreenTextConfig(StageConfig):
    min_confidence: float = Field(0.6, ge=0, le=1, description="drop readings below this confidence")
    merge_similarity: float = Field(0.8, ge=0, le=1, description="merge texts at least this similar across frames")
    max_side: int = Field(1280, ge=64, description="frames larger than this are downscaled before OCR")


def _norm(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def merge_texts(frames: list[FrameText], similarity: float) -> list[TextSpan]:
    """Deduplicate lines across frames (see the module docstring)."""
    spans: list[TextSpan] = []
    keys: list[str] = []
    for frame in frames:
        for line in frame.lines:
            key = _norm(line.text)
            if not key:
                continue
            match = next(
                (i for i, k in enumerate(keys) if k == key or SequenceMatcher(None, k, key).ratio() >= similarity), None
            )
            if match is None:
                keys.append(key)
                spans.append(TextSpan(text=line.text, confidence=line.confidence, first_s=frame.timestamp_s,
                                      last_s=frame.timestamp_s, frame_indices=[frame.frame_index]))
                continue
            span = spans[match]
            if line.confidence > span.confidence:
                span.text, span.confidence = line.text, line.confidence
                keys[match] = key
            span.last_s = max(span.last_s, frame.timestamp_s)
            if frame.frame_index not in span.frame_indices:
                span.frame_indices.append(frame.frame_index)
    return spans


@stage("read_onscreen_text", version=1, config=ReadOnscreenTextConfig, record=OnscreenTextRecord,
       needs=("extract_frames",), reads=(), models=lambda cfg: ["pkg:rapidocr-onnxruntime (PP-OCRv4 det/cls/rec)"])
def read_onscreen_text(item: Item, cfg: ReadOnscreenTextConfig, ctx: StageContext) -> OnscreenTextRecord:
    from pipelines.models.ocr import TextReader

    frames_record = ctx.inputs["extract_frames"]
    assert isinstance(frames_record, FramesRecord)
    provenance = {**ctx.provenance, "model": "rapidocr-onnxruntime PP-OCRv4"}
    if not frames_record.frames:  # an audio-only file: nothing to read, and no model to load
        return OnscreenTextRecord(**provenance, frames=[], texts=[])
    images = [load_frame(f.path, cfg.max_side) for f in frames_record.frames]  # all checked before OCR starts
    reader = ctx.models.get("ocr:rapidocr", TextReader)
    frames: list[FrameText] = []
    for ref, rgb in zip(frames_record.frames, images):
        scale = ref.width / rgb.shape[1]
        result = reader.read(rgb)
        lines = [
            OcrLineRef(text=line.text, confidence=line.confidence,
                       box=[[round(x * scale, 1), round(y * scale, 1)] for x, y in line.box])
            for line in result.lines
            if line.confidence >= cfg.min_confidence
        ]
        frames.append(FrameText(frame_index=ref.index, timestamp_s=ref.timestamp_s, lines=lines))
    return OnscreenTextRecord(**provenance, frames=frames, texts=merge_texts(frames, cfg.merge_similarity))
