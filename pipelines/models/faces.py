"""Frontal faces with OpenCV's bundled Haar cascades.

A face is kept only when two cascades agree on it (``frontalface_default`` and
``frontalface_alt`` boxes overlapping with IoU ≥ :data:`AGREEMENT_IOU`): one cascade alone
fires on text cards, coins and fur; the pair rarely does. Profiles and faces smaller than
``min_face_share`` of the frame height are missed.

The shot scale a face implies (with the person box when the face is small or missing) is
defined in ``pipelines/vision/framing.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.errors import ConfigError

CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt.xml")
AGREEMENT_IOU = 0.3
DETECT_SIDE = 640  # frames are searched at this longer side


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / float(aw * ah + bw * bh - inter) if inter else 0.0


@dataclass(frozen=True)
class Face:
    x: int
    y: int
    w: int
    h: int
    height_share: float  # face height / frame height


class FaceDetector:
    """Two-cascade frontal face detector (classical; misses profiles and small faces)."""

    def __init__(self, min_face_share: float = 0.04, min_neighbors: int = 5) -> None:
        import cv2

        self.cascades = []
        for name in CASCADES:
            cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
            if cascade.empty():
                raise ConfigError(f"OpenCV face cascade {name} is missing; install opencv-python-headless<5")
            self.cascades.append(cascade)
        self.min_face_share = min_face_share
        self.min_neighbors = min_neighbors

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an RGB frame, boxes in the frame's own pixel coordinates, largest first."""
        import cv2

        h, w = rgb.shape[:2]
        scale = min(1.0, DETECT_SIDE / max(h, w))
        small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
        grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        side = max(12, int(self.min_face_share * min(grey.shape)))

        def boxes(cascade: Any) -> list[tuple[int, ...]]:
            return [tuple(int(v) for v in box) for box in cascade.detectMultiScale(
                grey, scaleFactor=1.1, minNeighbors=self.min_neighbors, minSize=(side, side))]

        primary = boxes(self.cascades[0])
        confirming = boxes(self.cascades[1]) if primary else []  # nothing to confirm: the search is skipped
        found = [box for box in primary if any(iou(box, other) >= AGREEMENT_IOU for other in confirming)]
        faces = [
            Face(int(round(x / scale)), int(round(y / scale)), int(round(fw / scale)), int(round(fh / scale)), round(float(fh) / grey.shape[0], 4))
            for x, y, fw, fh in found
        ]
        return sorted(faces, key=lambda f: -f.h)
