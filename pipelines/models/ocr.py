"""On-screen text with RapidOCR (PP-OCR detection, angle classification and recognition as
ONNX models shipped in ``rapidocr-onnxruntime``).

RapidOCR runs the recogniser only on boxes the detector found, so a frame without text
costs one detector pass; :class:`OcrResult` keeps the time of each part for the benchmark.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class OcrLine:
    text: str
    confidence: float
    box: list[list[float]]  # four corner points (x, y) in frame pixels, clockwise from top-left


@dataclass
class OcrResult:
    lines: list[OcrLine] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # total, and det / cls / rec when text was found
    recognised: bool = False  # whether the recogniser ran (only when the detector found boxes)


class TextReader:
    def __init__(self, min_confidence: float = 0.5) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self.engine = RapidOCR()
        self.min_confidence = min_confidence

    def read(self, rgb: np.ndarray) -> OcrResult:
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        started = time.perf_counter()
        found, elapsed = self.engine(bgr)
        parts = dict(zip(("det", "cls", "rec"), [float(t) for t in (elapsed or [])]))
        parts["total"] = time.perf_counter() - started
        lines = [
            OcrLine(text=str(text).strip(), confidence=round(float(score), 4),
                    box=[[round(float(x), 1), round(float(y), 1)] for x, y in box])
            for box, text, score in (found or [])
            if str(text).strip() and float(score) >= self.min_confidence
        ]
        return OcrResult(lines, {k: round(v, 5) for k, v in parts.items()}, recognised=bool(found))
