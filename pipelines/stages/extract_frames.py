"""extract_frames: sample frames from a video with decord and store them as JPEG files.

Modes:
    ``uniform``: ``num_frames`` frames at the centres of equal segments of the video.
    ``fps``: one frame every ``1/fps`` seconds from ``start_s``; when that gives more than
        ``max_frames``, the same number of frames is spread evenly over the whole video
        instead (the cap lowers the rate, it never cuts off the end).
    ``shots``: one keyframe per detected shot (its middle; hard cuts found as in
        ``pipelines/vision/shots.py``); with more shots than ``max_frames``, the longest
        ``max_frames`` shots are kept, in time order.

Each frame is the decoded frame whose presentation interval contains the requested time, so
its timestamp is within one frame period of what was asked for.

A file with sound but no video stream (a podcast's .m4a, an .mp4 holding only AAC; cover art
is not a video) gives a record with ``no_video=True`` and no frames, not an error, so that
the item reaches summarize and predict with its speech and metadata. A file that is not
media at all is still an error. An item without a media file (a manifest row with an empty
``path``, a VPD row kept with ``require_video: false``) is a text-only item: no frames, not an
error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from pipelines.errors import BadInputError
from pipelines.files import atomic_write_bytes
from pipelines.media import decoder_message, open_video, probe_media, video_file
from pipelines.records import FrameRef, FramesRecord, Item, VideoInfo
from pipelines.stages.registry import StageConfig, StageContext, stage


class ExtractFramesConfig(StageConfig):
    mode: Literal["uniform", "fps", "shots"] = "uniform"
    num_frames: int = Field(8, ge=1, le=10_000, description="frames to take in uniform mode")
    fps: float = Field(1.0, gt=0, description="sampling rate in fps mode")
    max_frames: int = Field(64, ge=1, description="cap on frames in fps and shots modes")
    start_s: float = Field(0.0, ge=0, description="fps mode: time of the first frame")
    max_side: int = Field(768, ge=16, description="longer image side after resizing (0 = keep)")
    jpeg_quality: int = Field(90, ge=10, le=100)


def requested_times(duration_s: float, cfg: ExtractFramesConfig) -> list[float]:
    """The times (seconds) the sampling mode asks for, in order."""
    if duration_s <= 0:
        return [0.0]
    if cfg.mode != "fps":
        n = cfg.num_frames
        return [(i + 0.5) * duration_s / n for i in range(n)]
    times = list(np.arange(cfg.start_s, duration_s, 1.0 / cfg.fps))
    if not times:
        raise BadInputError(f"start_s={cfg.start_s} is past the end of the video ({duration_s:.2f} s)")
    if len(times) > cfg.max_frames:
        n = cfg.max_frames
        span = duration_s - cfg.start_s
        times = [cfg.start_s + (i + 0.5) * span / n for i in range(n)]
    return [float(t) for t in times]


def shot_keyframe_times(shots: list[tuple[float, float]], cap: int) -> list[float]:
    """Middle of each shot; the ``cap`` longest shots when there are more, in time order."""
    keep = sorted(sorted(shots, key=lambda s: -(s[1] - s[0]))[:cap])
    return [round((start + end) / 2, 4) for start, end in keep]


def frame_index_at(starts: np.ndarray, t: float) -> int:
    """Index of the frame shown at time ``t``: the last frame starting at or before ``t``."""
    return int(max(0, np.searchsorted(starts, t + 1e-6, side="right") - 1))


@stage("extract_frames", version=2, config=ExtractFramesConfig, record=FramesRecord, item_parts=("video",))
def extract_frames(item: Item, cfg: ExtractFramesConfig, ctx: StageContext) -> FramesRecord:
    import cv2

    if not item.video_path:  # a text-only item: its title, description and metadata are its text
        return FramesRecord(**ctx.provenance, video=None, mode=cfg.mode, frames=[], no_video=True)
    path = video_file(item)
    try:
        probe = probe_media(path)
    except BadInputError:
        probe = None  # not readable by PyAV either: open_video below gives the decoder's one-line error
    if probe is not None and not probe.has_video:
        if not probe.has_audio:
            raise BadInputError(f"{item.video} has neither a video nor an audio stream: nothing to extract")
        return FramesRecord(**ctx.provenance, video=None, mode=cfg.mode, frames=[], no_video=True)
    reader = open_video(item)
    num = len(reader)
    try:
        stamps = reader.get_frame_timestamp(list(range(num)))  # (num, 2): start, end seconds
    except Exception as exc:
        raise BadInputError(f"cannot read frame times of {item.video}: {decoder_message(exc)}") from None
    starts = np.asarray(stamps[:, 0], dtype=float)
    fps = float(reader.get_avg_fps()) or (num / max(float(stamps[-1, 1]), 1e-6))
    duration = float(stamps[-1, 1])
    first = reader[0].shape

    if cfg.mode == "shots":
        from pipelines.vision.shots import scan_video

        wanted = shot_keyframe_times(scan_video(Path(str(item.video_path))).shots, cfg.max_frames)
    else:
        wanted = requested_times(duration, cfg)
    indices = [frame_index_at(starts, t) for t in wanted]
    unique = sorted(set(indices))
    try:
        batch = reader.get_batch(unique).asnumpy()
    except Exception as exc:
        raise BadInputError(f"cannot decode frames of {item.video} (truncated or corrupt?): {decoder_message(exc)}") from None
    by_index = dict(zip(unique, batch))

    out = ctx.output_dir()
    frames: list[FrameRef] = []
    for t, idx in zip(wanted, indices):
        rgb = by_index[idx]
        h, w = rgb.shape[:2]
        scale = cfg.max_side / max(h, w) if cfg.max_side and max(h, w) > cfg.max_side else 1.0
        if scale != 1.0:
            rgb = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        path = out / f"frame_{idx:07d}.jpg"
        if not path.exists():
            ok, buf = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
            if not ok:
                raise BadInputError(f"could not encode frame {idx} of {item.video} as JPEG")
            atomic_write_bytes(path, buf.tobytes())
        frames.append(
            FrameRef(
                index=idx,
                timestamp_s=round(float(starts[idx]), 4),
                requested_s=round(t, 4),
                path=str(path),
                width=rgb.shape[1],
                height=rgb.shape[0],
            )
        )
    info = VideoInfo(fps=round(fps, 4), num_frames=num, duration_s=round(duration, 4), width=first[1], height=first[0])
    return FramesRecord(**ctx.provenance, video=info, mode=cfg.mode, frames=frames)
