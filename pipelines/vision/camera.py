"""Camera movement of a shot from global optical flow (OpenCV).

Method: pairs of frames :data:`STEP_S` seconds apart are taken inside the shot (leaving
:data:`EDGE_S` out at each end, where a cut or fade blends shots; ``per_shot.py`` chooses
them), converted to grey at :data:`FLOW_WIDTH` pixels wide. Within each pair, corners
(``goodFeaturesToTrack``) are tracked with pyramidal Lucas–Kanade flow and a similarity
transform (translation, rotation, uniform scale) is fitted to the tracks with RANSAC
(``estimateAffinePartial2D``): that is the *global* motion of the picture, which follows
the background when it covers most of the frame. Per pair we keep the translation in
frame widths per second (``dx``, ``dy``; y grows downwards) and the scale change as
``log(scale)`` per second (``zoom``); a shot's motion is the median over its pairs.

Names (thresholds per second of footage):

* ``|zoom| ≥ ZOOM_MIN`` → ``zoom in`` (the picture grows: scale > 1) or ``zoom out``;
* else ``max(|dx|, |dy|) ≥ PAN_MIN`` → the larger axis decides: the picture moving left
  (``dx < 0``) means the camera pans **right**, and ``dx > 0`` pan left; the picture moving
  down (``dy > 0``) means the camera tilts **up**, and ``dy < 0`` tilt down;
* else ``static``.

Fewer than :data:`MIN_TRACKS` tracked corners in a pair (a black, flat or blurred picture)
makes that pair unusable; a shot with no usable pair (or too short for one) is ``unknown``. Objects moving over a still background do not move the camera unless they
cover most of the frame. A zoom and a dolly forward look alike here; so do a pan and a
sideways tracking shot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CAMERA_MOVEMENTS = ("static", "pan left", "pan right", "tilt up", "tilt down", "zoom in", "zoom out")
STEP_S = 0.2
EDGE_S = 0.1
FLOW_WIDTH = 320
MIN_TRACKS = 12
PAN_MIN = 0.03  # frame widths per second
ZOOM_MIN = 0.04  # log(scale) per second (about 4 % bigger or smaller each second)


@dataclass(frozen=True)
class CameraMotion:
    movement: str
    dx: float | None  # frame widths per second (median over pairs)
    dy: float | None
    zoom: float | None  # log(scale) per second
    pairs: int  # usable frame pairs


def grey(rgb: np.ndarray) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    scale = FLOW_WIDTH / w
    small = cv2.resize(rgb, (FLOW_WIDTH, max(8, round(h * scale))), interpolation=cv2.INTER_AREA) if w != FLOW_WIDTH else rgb
    return cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2GRAY)


def pair_motion(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float] | None:
    """``(dx, dy, log scale)`` of the picture from grey frame ``a`` to ``b`` (dx, dy in frame
    widths), or ``None`` when too few corners can be tracked."""
    import cv2

    corners = cv2.goodFeaturesToTrack(a, maxCorners=300, qualityLevel=0.01, minDistance=6, blockSize=7)
    if corners is None or len(corners) < MIN_TRACKS:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(a, b, corners, None, winSize=(21, 21), maxLevel=3)
    ok = status.reshape(-1) == 1
    if int(ok.sum()) < MIN_TRACKS:
        return None
    matrix, inliers = cv2.estimateAffinePartial2D(corners[ok], moved[ok], method=cv2.RANSAC,
                                                   ransacReprojThreshold=1.5, maxIters=2000, confidence=0.99,
                                                   refineIters=10)
    if matrix is None or inliers is None or int(inliers.sum()) < MIN_TRACKS:
        return None
    scale = math.hypot(matrix[0, 0], matrix[1, 0])
    width = a.shape[1]
    # the translation of the frame centre (a zoom about the centre moves no centre pixel)
    cx, cy = a.shape[1] / 2, a.shape[0] / 2
    centre_x = matrix[0, 0] * cx + matrix[0, 1] * cy + matrix[0, 2]
    centre_y = matrix[1, 0] * cx + matrix[1, 1] * cy + matrix[1, 2]
    return (centre_x - cx) / width, (centre_y - cy) / width, math.log(max(scale, 1e-6))


def name_movement(dx: float, dy: float, zoom: float) -> str:
    if abs(zoom) >= ZOOM_MIN:
        return "zoom in" if zoom > 0 else "zoom out"
    if max(abs(dx), abs(dy)) < PAN_MIN:
        return "static"
    if abs(dx) >= abs(dy):
        return "pan right" if dx < 0 else "pan left"
    return "tilt up" if dy > 0 else "tilt down"


def camera_motion(pairs: list[tuple[np.ndarray, np.ndarray, float]]) -> CameraMotion:
    """The camera movement of one shot from pairs ``(rgb_a, rgb_b, seconds between them)``."""
    rates: list[tuple[float, float, float]] = []
    for a, b, dt in pairs:
        motion = pair_motion(grey(a), grey(b)) if dt > 0 else None
        if motion is not None:
            rates.append((motion[0] / dt, motion[1] / dt, motion[2] / dt))
    if not rates:
        return CameraMotion("unknown", None, None, None, 0)
    dx, dy, zoom = (float(np.median([r[k] for r in rates])) for k in range(3))
    return CameraMotion(name_movement(dx, dy, zoom), round(dx, 4), round(dy, 4), round(zoom, 4), len(rates))
