"""read_onscreen_text: OCR of every extracted frame (RapidOCR, bundled PP-OCR models).

Each frame keeps its lines with boxes and confidence, as read: ``frames`` is never rewritten.
``texts`` merges the same text seen in several frames, in order of first appearance, each with
the first and last time it was seen and every frame it was read in:

* readings equal once case, spacing and punctuation are ignored are one text;
* near-identical readings are one text when they read alike once the characters OCR confuses
  are mapped (``O``/``0``, ``I``/``l``/``1``, ``S``/``5``, ``B``/``8``, ``Z``/``2``: "SALE 5O%" is
  "SALE 50%"), or when their similarity is at least ``merge_similarity`` (a dropped or misread
  letter: "ESPRESO", "ESPRESSO") *and* they hold the same digits. Numbers are what changes from
  frame to frame on screen — a running clock, a counter, a score, a price — so two readings
  whose digits differ are two texts, however similar: merging them once rewrote
  ``00:00:00.840`` (read at 0.84 s) as ``00:00:00.280`` (read at 0.28 s), and a true claim
  about the later reading was then called contradicted.

A merged text shows its most confident reading. An item without frames (an audio-only file)
gives an empty record.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from pydantic import Field

from pipelines.media import load_frame
from pipelines.records import FramesRecord, FrameText, Item, OcrLineRef, OnscreenTextRecord, TextSpan
from pipelines.stages.registry import StageConfig, StageContext, stage


class ReadOnscreenTextConfig(StageConfig):
    min_confidence: float = Field(0.6, ge=0, le=1, description="drop readings below this confidence")
    merge_similarity: float = Field(0.8, ge=0, le=1, description="merge texts at least this similar across frames")
    max_side: int = Field(1280, ge=64, description="frames larger than this are downscaled before OCR")


def _norm(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


# characters OCR reads for one another (lower case: keys are case-folded), mapped to the digit
CONFUSABLE = str.maketrans({"o": "0", "i": "1", "l": "1", "s": "5", "b": "8", "z": "2"})


def _digits(text: str) -> str:
    """The digits of ``text``'s number-like tokens (a token holding a digit), OCR-confusable
    letters in them read as digits ("5O%" -> "50"); letters of plain words do not count."""
    tokens = re.findall(r"[a-z0-9]+", text.casefold())
    return "".join(re.sub(r"\D", "", t.translate(CONFUSABLE)) for t in tokens if re.search(r"\d", t))


def same_text(a: str, b: str, similarity: float) -> bool:
    """Whether readings ``a`` and ``b`` (normalised keys, see :func:`_norm`) are one on-screen
    text (rules in the module docstring)."""
    if a == b or a.translate(CONFUSABLE) == b.translate(CONFUSABLE):
        return True
    return _digits(a) == _digits(b) and SequenceMatcher(None, a, b).ratio() >= similarity


def merge_texts(frames: list[FrameText], similarity: float) -> list[TextSpan]:
    """Deduplicate lines across frames (see the module docstring): each text keeps the span of
    times it was seen (first and last) and every frame it was read in."""
    spans: list[TextSpan] = []
    keys: list[list[str]] = []  # every distinct reading merged into each text
    for frame in sorted(frames, key=lambda f: f.timestamp_s):
        for line in frame.lines:
            key = _norm(line.text)
            if not key:
                continue
            match = next((i for i, readings in enumerate(keys)
                          if all(same_text(k, key, similarity) for k in readings)), None)
            if match is None:
                keys.append([key])
                spans.append(TextSpan(text=line.text, confidence=line.confidence, first_s=frame.timestamp_s,
                                      last_s=frame.timestamp_s, frame_indices=[frame.frame_index]))
                continue
            span = spans[match]
            if key not in keys[match]:
                keys[match].append(key)
            if line.confidence > span.confidence:
                span.text, span.confidence = line.text, line.confidence
            span.first_s = min(span.first_s, frame.timestamp_s)
            span.last_s = max(span.last_s, frame.timestamp_s)
            if frame.frame_index not in span.frame_indices:
                span.frame_indices.append(frame.frame_index)
    return spans


@stage("read_onscreen_text", version=2, config=ReadOnscreenTextConfig, record=OnscreenTextRecord,
       needs=("extract_frames",), item_parts=(), models=lambda cfg: ["pkg:rapidocr-onnxruntime (PP-OCRv4 det/cls/rec)"])
def read_onscreen_text(item: Item, cfg: ReadOnscreenTextConfig, ctx: StageContext) -> OnscreenTextRecord:
    from pipelines.models.ocr import TextReader

    frames_record = ctx.upstream["extract_frames"]
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
