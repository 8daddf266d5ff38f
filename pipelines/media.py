"""Opening media files with clear, one-line errors.

decord and PyAV report broken files with long C-level messages (or not at all); these
helpers check the common problems first so that a user reads "file is empty (0 bytes)"
rather than "Invalid data found when processing input".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.records import Item
from pipelines.errors import BadInputError


def video_file(item: Item) -> Path:
    """The item's video as an existing, non-empty file, or a :class:`BadInputError`."""
    if not item.video_path:
        raise BadInputError("item has no video path in the manifest")
    path = Path(item.video_path)
    if not path.exists():
        raise BadInputError(f"video file not found: {item.video}")
    if not path.is_file():
        raise BadInputError(f"video path is not a file: {item.video}")
    if path.stat().st_size == 0:
        raise BadInputError(f"video file is empty (0 bytes): {item.video}")
    return path


def open_video(item: Item) -> Any:
    """A ``decord.VideoReader`` for the item's video (RGB frames, CPU)."""
    path = video_file(item)
    import decord

    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
    except Exception as exc:  # decord raises bare RuntimeError/DECORDError for any bad file
        raise BadInputError(
            f"cannot decode video {item.video}: not a readable video file "
            f"(truncated, corrupt or not a video); decoder said: {decoder_message(exc)}"
        ) from None
    if len(reader) == 0:
        raise BadInputError(f"video {item.video} has no frames")
    return reader


@dataclass(frozen=True)
class MediaProbe:
    has_audio: bool
    duration_s: float | None  # as declared by the container; None when it declares none


def probe_media(path: Path) -> MediaProbe:
    """What the container declares (PyAV, no decoding): audio stream present, duration."""
    import av

    try:
        with av.open(str(path)) as container:
            duration = container.duration / 1_000_000 if container.duration else None
            return MediaProbe(any(s.type == "audio" for s in container.streams), duration)
    except av.error.FFmpegError as exc:
        raise BadInputError(
            f"cannot read media file {path.name}: not a readable audio/video file; "
            f"decoder said: {decoder_message(exc)}"
        ) from None


def decoder_message(exc: BaseException) -> str:
    """The decoder's message without its C++ log prefix (``[10:39:50] /src/x.cc:83: ``)."""
    import re

    text = str(exc).strip().splitlines()
    if not text:
        return type(exc).__name__
    return re.sub(r"^\[[\d:]+\]\s*\S+\.(?:cc|cpp|h):\d+:\s*", "", text[0])[:200]


MIN_FRAME_SIDE = 16


def load_frame(path: str | Path, max_side: int | None = None) -> Any:
    """A stored frame as an RGB uint8 array (grayscale and RGBA are converted), optionally
    downscaled so its longer side is at most ``max_side``; unreadable or tiny frames raise a
    :class:`BadInputError` that names the file."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            rgb = image.convert("RGB")
    except FileNotFoundError:
        raise BadInputError(f"frame file not found: {path}") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise BadInputError(f"frame file {path.name} is not a readable image ({decoder_message(exc)})") from None
    w, h = rgb.size
    if min(w, h) < MIN_FRAME_SIDE:
        raise BadInputError(f"frame {path.name} is {w}x{h} px; frames must be at least {MIN_FRAME_SIDE} px on each side")
    if max_side and max(w, h) > max_side:
        scale = max_side / max(w, h)
        rgb = rgb.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
    return np.asarray(rgb)
