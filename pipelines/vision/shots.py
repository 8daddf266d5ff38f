"""Shot boundaries (hard cuts) and motion, from a low-resolution scan of the whole video.

Why our own detector rather than PySceneDetect: the ``scenedetect`` wheel depends on
``opencv-python``, which would replace the headless OpenCV 4 build this project needs (and
OpenCV 5 has no Haar face cascades); the detector we need is small.

Method: decode frames at :data:`SCAN_SIZE` (decord scales while decoding), at most
``scan_fps`` frames per second (every k-th frame). For consecutive scanned frames, the
*difference* is the mean absolute RGB difference scaled to 0..1. A cut is placed before
frame t when its difference is at least ``threshold`` **and** at least ``ratio`` times the
median difference of the ``window`` scanned pairs around it — the second test keeps fast
pans, zooms and flashes of motion from counting as cuts. Cuts closer than ``min_shot_s`` to
the previous one are dropped. Gradual transitions (fades, dissolves) are not detected.
A cut's time is the timestamp of the first scanned frame of the new shot, so it is exact to
one scanned frame.

Motion is the mean difference between consecutive scanned frames inside shots (pairs that
straddle a cut are left out): 0 is a still image; see :func:`motion_level` for the names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SCAN_SIZE = (64, 36)  # width, height of scanned frames
CHUNK = 256  # frames decoded per batch: memory stays flat on long videos
MOTION_LEVELS = [(0.004, "static"), (0.015, "low"), (0.04, "moderate"), (float("inf"), "high")]


@dataclass(frozen=True)
class ShotParams:
    scan_fps: float = 12.5
    threshold: float = 0.08
    ratio: float = 3.0
    window: int = 9
    min_shot_s: float = 0.4


@dataclass
class ShotScan:
    fps: float
    duration_s: float
    times_s: list[float]  # timestamp of every scanned frame
    diffs: list[float]  # diffs[i]: difference between scanned frame i and i+1
    cuts_s: list[float] = field(default_factory=list)
    cut_positions: list[int] = field(default_factory=list)  # index of the first scanned frame after each cut

    @property
    def shots(self) -> list[tuple[float, float]]:
        bounds = [0.0, *self.cuts_s, self.duration_s]
        return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]

    def motion_between(self, start_s: float, end_s: float) -> float | None:
        """Mean in-shot difference of scanned pairs whose first frame lies in [start_s, end_s)."""
        cut_pairs = {p - 1 for p in self.cut_positions}
        values = [d for i, d in enumerate(self.diffs) if start_s <= self.times_s[i] < end_s and i not in cut_pairs]
        return round(float(np.mean(values)), 5) if values else None


def motion_level(value: float | None) -> str:
    if value is None:
        return "unknown"
    return next(name for bound, name in MOTION_LEVELS if value < bound)


def find_cuts(diffs: np.ndarray, params: ShotParams, step_s: float) -> list[int]:
    """Positions i (cut between scanned frames i-1 and i) chosen by the rule in the module doc."""
    cuts: list[int] = []
    half = params.window // 2
    for i, d in enumerate(diffs):
        if d < params.threshold:
            continue
        lo, hi = max(0, i - half), min(len(diffs), i + half + 1)
        neighbours = np.delete(diffs[lo:hi], i - lo)
        baseline = float(np.median(neighbours)) if neighbours.size else 0.0
        if d < params.ratio * baseline:
            continue
        position = i + 1
        if cuts and (position - cuts[-1]) * step_s < params.min_shot_s:
            if d > diffs[cuts[-1] - 1]:
                cuts[-1] = position
            continue
        cuts.append(position)
    return cuts


def scan_video(path: Path, params: ShotParams = ShotParams()) -> ShotScan:
    """Scan a video file and find its hard cuts (raises decord's errors on unreadable files)."""
    import decord

    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), width=SCAN_SIZE[0], height=SCAN_SIZE[1])
    n = len(reader)
    fps = float(reader.get_avg_fps()) or 25.0
    stamps = reader.get_frame_timestamp(list(range(n)))
    step = max(1, round(fps / params.scan_fps)) if params.scan_fps > 0 else 1
    indices = list(range(0, n, step))
    diffs: list[float] = []
    previous: np.ndarray | None = None
    for start in range(0, len(indices), CHUNK):
        batch = reader.get_batch(indices[start : start + CHUNK]).asnumpy().astype(np.int16)
        for frame in batch:
            if previous is not None:
                diffs.append(float(np.abs(frame - previous).mean() / 255.0))
            previous = frame
    times = [round(float(stamps[i, 0]), 4) for i in indices]
    positions = find_cuts(np.asarray(diffs), params, step / fps)
    return ShotScan(
        fps=fps,
        duration_s=round(float(stamps[-1, 1]), 4),
        times_s=times,
        diffs=[round(d, 5) for d in diffs],
        cuts_s=[times[p] for p in positions],
        cut_positions=positions,
    )
