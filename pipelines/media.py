"""Opening media files with clear, one-line errors.

decord and PyAV report broken files with long C-level messages (or not at all); these
helpers check the common problems first so that a user reads "file is empty (0 bytes)"
rather than "Invalid data found when processing input".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.errors import BadInputError
from pipelines.records import Item


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
    """What a file's container and streams declare, read without decoding.

    Attributes:
        has_audio: the file has an audio stream.
        duration_s: the container's duration (that of its longest stream); None when it
            declares none.
        has_video: the file has a moving-picture stream; cover art (an attached picture in a
            podcast's .m4a or .mp3) does not count, as it is one still image, not a video.
        audio_duration_s: the first audio stream's own duration (the one speech recognisers
            decode), which is shorter than the container's when the music or voice-over ends
            before the picture; the container's when the stream declares nothing; None
            without audio.
        audio_start_s: where that audio stream starts on the file's timeline, relative to the
            earliest stream (a voice-over muxed to begin late); 0 when not declared.
    """

    has_audio: bool
    duration_s: float | None
    has_video: bool = True
    audio_duration_s: float | None = None
    audio_start_s: float = 0.0


def _seconds(value: Any, time_base: Any) -> float | None:
    return float(value * time_base) if value is not None and time_base else None


def stream_duration_s(stream: Any) -> float | None:
    """A stream's own declared duration: MP4/MOV and most containers give it in the stream
    header; Matroska/WebM only as a per-stream ``DURATION`` tag (``HH:MM:SS.fffffffff``)."""
    if stream.duration:
        return _seconds(stream.duration, stream.time_base)
    tag = next((v for k, v in (stream.metadata or {}).items() if k.upper() == "DURATION"), None)
    try:
        hours, minutes, seconds = str(tag).split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:  # no tag, or not in that form
        return None


def probe_media(path: Path) -> MediaProbe:
    """What the file declares (PyAV, no decoding): its streams and their durations."""
    import av

    try:
        with av.open(str(path)) as container:
            duration = container.duration / 1_000_000 if container.duration else None
            streams = list(container.streams)
            video = [s for s in streams if s.type == "video"
                     and not s.disposition & av.stream.Disposition.attached_pic]
            audio = [s for s in streams if s.type == "audio"]
            if not audio:
                return MediaProbe(False, duration, has_video=bool(video))
            starts = [t for t in (_seconds(s.start_time, s.time_base) for s in streams) if t is not None]
            audio_start = _seconds(audio[0].start_time, audio[0].time_base)
            offset = audio_start - min(starts) if audio_start is not None else 0.0
            audio_duration = stream_duration_s(audio[0]) or duration
            return MediaProbe(True, duration, has_video=bool(video), audio_duration_s=audio_duration,
                              audio_start_s=round(max(offset, 0.0), 3))
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
