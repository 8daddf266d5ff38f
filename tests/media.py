"""Generated test media with known truth (needs the ffmpeg program)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np


def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    assert path, "ffmpeg is needed for generated test media: apt-get install -y ffmpeg (make test does it)"
    return path


def index_gray(i: int) -> int:
    """Grey level of frame ``i`` in :func:`write_index_clip` (steps of 4: robust to rounding)."""
    return 16 + 4 * i


def write_index_clip(path: Path, fps: int = 10, n_frames: int = 50, size: tuple[int, int] = (64, 48)) -> Path:
    """A silent clip whose frame ``i`` is flat grey ``index_gray(i)``, encoded losslessly."""
    assert index_gray(n_frames - 1) <= 235
    w, h = size
    proc = subprocess.Popen(
        [ffmpeg(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{w}x{h}",
         "-r", str(fps), "-i", "-", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(path)],
        stdin=subprocess.PIPE,
    )
    assert proc.stdin is not None
    for i in range(n_frames):
        proc.stdin.write(np.full((h, w), index_gray(i), dtype=np.uint8).tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return path


def stroop_frame(word: str = "GREEN", ink: tuple[int, int, int] = (220, 20, 20)) -> np.ndarray:
    """The Stroop card: a colour word written in another colour, on white (RGB, 640x360)."""
    import cv2

    frame = np.full((360, 640, 3), 255, dtype=np.uint8)
    cv2.putText(frame, word, (60, 230), cv2.FONT_HERSHEY_DUPLEX, 4.5, ink, 12, cv2.LINE_AA)
    return frame


def write_jpeg(path: Path, rgb: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(rgb).save(path, quality=90)
    return path
