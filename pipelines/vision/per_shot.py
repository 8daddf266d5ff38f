"""Per-shot measurements: the shot scale and the camera movement of every detected shot.

Each shot (from ``shots.py``) is looked at on its own frames, not on the few frames sampled
for the whole video, so that a 2-second close-up between two long shots is still measured:

* **shot scale** — :data:`SCALE_POINTS` frames (at 25, 50 and 75 % of the shot), decoded at
  most :data:`SCALE_SIDE` pixels on the longer side; faces and COCO ``person`` boxes on each;
  the rule and the majority vote are in ``framing.py``;
* **camera movement** — up to :data:`MAX_PAIRS` pairs of frames ``camera.STEP_S`` apart,
  spread evenly over the shot (less ``camera.EDGE_S`` at each end), decoded at
  ``camera.FLOW_WIDTH`` pixels wide; the rule is in ``camera.py``.

Cost per shot is bounded (3 frames for the scale, at most 2 × :data:`MAX_PAIRS` small frames
for the movement), whatever its length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.vision.camera import EDGE_S, FLOW_WIDTH, STEP_S, CameraMotion, camera_motion
from pipelines.vision.framing import FACE_DECIDES, Framing, frame_scale, shot_scale

SCALE_POINTS = (0.25, 0.5, 0.75)
SCALE_SIDE = 640
MAX_PAIRS = 6


@dataclass(frozen=True)
class ShotMeasure:
    start_s: float
    end_s: float
    scale: str | None
    framings: list[Framing]
    camera: CameraMotion


def pair_starts(start_s: float, end_s: float) -> list[float]:
    """Where the camera-movement pairs of a shot begin (rule in the module doc)."""
    lo, hi = start_s + EDGE_S, end_s - EDGE_S - STEP_S
    if hi < lo:
        return []
    n = min(MAX_PAIRS, int((hi - lo) / STEP_S) + 1)
    return [round(lo + (hi - lo) * i / max(n - 1, 1), 4) for i in range(n)] if n > 1 else [round(lo, 4)]


class FrameSource:
    """Frames of one video at given times, decoded by decord at a chosen size."""

    def __init__(self, path: Path, width: int, height: int) -> None:
        import decord

        self.reader = decord.VideoReader(str(path), ctx=decord.cpu(0), width=width, height=height)
        n = len(self.reader)
        stamps = self.reader.get_frame_timestamp(list(range(n)))
        self.starts = np.asarray(stamps[:, 0], dtype=np.float64)

    def index_at(self, time_s: float) -> int:
        """The frame shown at ``time_s`` (the last one that starts at or before it)."""
        return int(max(0, min(len(self.starts) - 1, np.searchsorted(self.starts, time_s + 1e-6, side="right") - 1)))

    def frames(self, times_s: Sequence[float]) -> tuple[list[np.ndarray], list[float]]:
        """RGB frames at ``times_s`` and their own timestamps (a repeated frame appears once)."""
        indices = sorted({self.index_at(t) for t in times_s})
        if not indices:
            return [], []
        batch = self.reader.get_batch(indices).asnumpy()
        return list(batch), [float(self.starts[i]) for i in indices]


def scaled_size(width: int, height: int, side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(width, height))
    return max(16, round(width * scale) // 2 * 2), max(16, round(height * scale) // 2 * 2)


def measure_shots(
    path: Path,
    shots: Sequence[tuple[float, float]],
    size: tuple[int, int],
    faces: Callable[[np.ndarray], list[Any]] | None,
    people: Callable[[np.ndarray], list[tuple[float, float, float, float]]] | None,
    movement: bool = True,
) -> list[ShotMeasure]:
    """Scale and camera movement of each shot of the video at ``path`` (``size``: its width
    and height). ``faces(rgb)`` returns faces with a ``height_share``; ``people(rgb)``
    returns person boxes in 0..1 coordinates; either may be ``None`` (not measured)."""
    width, height = size
    still = FrameSource(path, *scaled_size(width, height, SCALE_SIDE)) if faces or people else None
    flow_w = min(FLOW_WIDTH, width)
    flow = FrameSource(path, *scaled_size(width, height, max(flow_w, round(flow_w * height / width)))) \
        if movement else None
    out = []
    for start, end in shots:
        framings: list[Framing] = []
        if still is not None:
            images, _ = still.frames([start + (end - start) * p for p in SCALE_POINTS])
            for rgb in images:
                shares = [f.height_share for f in faces(rgb)] if faces else []
                # people decide only when no face is at least medium-sized (framing.py)
                needed = people is not None and max(shares, default=0.0) < FACE_DECIDES
                framings.append(frame_scale(shares, people(rgb) if needed else []))
        camera = CameraMotion("unknown", None, None, None, 0)
        if flow is not None:
            pairs = []
            for t in pair_starts(start, end):
                images, stamps = flow.frames([t, t + STEP_S])
                if len(images) == 2:
                    pairs.append((images[0], images[1], stamps[1] - stamps[0]))
            camera = camera_motion(pairs)
        out.append(ShotMeasure(start, end, shot_scale(framings), framings, camera))
    return out
