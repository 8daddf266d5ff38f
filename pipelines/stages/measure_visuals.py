"""measure_visuals: measured facts about light, colour, shots, motion and faces.

Per sampled frame: luminance, contrast and lighting key, colour palette and dominant colour,
saturation, colour temperature (``pipelines/vision/color.py``); frontal faces and the shot
scale they imply (``pipelines/models/faces.py``); motion around the frame. Per video: hard
cuts with timestamps, the shots between them, motion intensity (``pipelines/vision/shots.py``)
and summaries of the frame facts, plus ``text``: the facts in a few plain sentences.

These facts are the evidence that the hallucination audit checks generated text against;
every definition and threshold is documented in the modules named above. Faces are listed
largest first, then top to bottom and left to right: the cascade returns equal-sized faces
in an order that depends on OpenCV's thread count, and the record must not. A file without
a video stream gives a record with no frames, no shots and ``unknown`` facts.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from pydantic import Field

from pipelines.errors import BadInputError
from pipelines.media import load_frame, video_file
from pipelines.records import (
    ColourShare, FaceBox, FramesRecord, FrameVisuals, Item, Shot, VisualsRecord,
)
from pipelines.stages.registry import StageConfig, StageContext, stage

if TYPE_CHECKING:
    from pipelines.vision.shots import ShotParams

MOTION_WINDOW_S = 0.5


class MeasureVisualsConfig(StageConfig):
    scan_fps: float = Field(12.5, gt=0, description="frames per second scanned for cuts and motion")
    cut_threshold: float = Field(0.08, gt=0, le=1, description="minimum frame difference of a cut (0..1)")
    cut_ratio: float = Field(3.0, ge=1, description="a cut's difference over the local median difference")
    min_shot_s: float = Field(0.4, ge=0, description="shortest shot kept")
    detect_faces: bool = True
    min_face_share: float = Field(0.04, gt=0, lt=1, description="smallest face searched, share of frame height")


def shot_params(cfg: MeasureVisualsConfig) -> "ShotParams":
    from pipelines.vision.shots import ShotParams

    return ShotParams(scan_fps=cfg.scan_fps, threshold=cfg.cut_threshold, ratio=cfg.cut_ratio, min_shot_s=cfg.min_shot_s)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def render_facts(record_fields: dict) -> str:
    """The per-video facts as short sentences (deterministic)."""
    f = record_fields
    parts = [
        f"{_plural(f['shot_count'], 'shot')}"
        + (f" (cuts at {', '.join(f'{c:.1f} s' for c in f['cuts_s'])})" if f["cuts_s"] else "") + ".",
        f"Motion: {f['motion_level']}.",
        f"Lighting: {f['lighting_key']} (mean luminance {f['luminance']:.2f}); dominant colour {f['dominant_colour']}; "
        f"{f['colour_temperature']} colour temperature.",
    ]
    if f["frames_with_faces"]:
        scales = ", ".join(f"{k} ({v})" for k, v in sorted(f["shot_scales"].items(), key=lambda kv: -kv[1]))
        parts.append(f"Faces in {f['frames_with_faces']} of {f['n_frames']} sampled frames; shot scales: {scales}.")
    else:
        parts.append(f"No faces in the {f['n_frames']} sampled frames.")
    return " ".join(parts)


def no_video_record(ctx: StageContext) -> VisualsRecord:
    """The record of an audio-only file: nothing was measured, and nothing is claimed."""
    return VisualsRecord(
        **{**ctx.provenance, "model": "opencv haarcascade_frontalface_default"}, frames=[], shots=[], cuts_s=[],
        shot_count=0, motion=None, motion_level="unknown", luminance=0.0, lighting_key="unknown",
        dominant_colour="unknown", colour_temperature="unknown", frames_with_faces=0, shot_scales={},
        text="No video stream: no visual facts.",
    )


@stage("measure_visuals", version=2, config=MeasureVisualsConfig, record=VisualsRecord,
       needs=("extract_frames",), reads=("video",),
       models=lambda cfg: ["pkg:opencv-python-headless (Haar face cascades)"] if cfg.detect_faces else [])
def measure_visuals(item: Item, cfg: MeasureVisualsConfig, ctx: StageContext) -> VisualsRecord:
    from pipelines.models.faces import FaceDetector, shot_scale
    from pipelines.vision.color import lighting_key, measure_colour
    from pipelines.vision.shots import motion_level, scan_video

    frames_record = ctx.inputs["extract_frames"]
    assert isinstance(frames_record, FramesRecord)
    if frames_record.no_video:
        return no_video_record(ctx)
    images = [load_frame(f.path) for f in frames_record.frames]
    path = video_file(item)
    try:
        scan = scan_video(path, shot_params(cfg))
    except Exception as exc:  # decord's errors carry C++ context; keep the first line
        raise BadInputError(f"cannot scan {item.video} for shots: {str(exc).splitlines()[0][:200]}") from None
    detector = ctx.models.get(f"faces:haar:{cfg.min_face_share}", lambda: FaceDetector(cfg.min_face_share))

    frames: list[FrameVisuals] = []
    for ref, rgb in zip(frames_record.frames, images):
        colour = measure_colour(rgb)
        faces = sorted(detector.detect(rgb) if cfg.detect_faces else [], key=lambda f: (-f.h, f.y, f.x, f.w))
        scale = ref.width / rgb.shape[1]  # frames are >= 16 px (load_frame)
        motion = scan.motion_between(ref.timestamp_s - MOTION_WINDOW_S, ref.timestamp_s + MOTION_WINDOW_S)
        frames.append(FrameVisuals(
            frame_index=ref.index, timestamp_s=ref.timestamp_s,
            luminance=colour.luminance, contrast=colour.contrast, lighting_key=colour.lighting_key,
            dominant_colour=colour.dominant_colour,
            palette=[ColourShare(name=n, share=s) for n, s in colour.palette],
            saturation=colour.saturation, colour_temperature_k=colour.colour_temperature_k,
            colour_temperature=colour.colour_temperature,
            faces=[FaceBox(x=round(f.x * scale), y=round(f.y * scale), w=round(f.w * scale), h=round(f.h * scale),
                           height_share=f.height_share) for f in faces],
            shot_scale=shot_scale(faces), motion=motion, motion_level=motion_level(motion),
        ))

    motion = scan.motion_between(0.0, scan.duration_s + 1.0)
    luminance = round(sum(f.luminance for f in frames) / len(frames), 4) if frames else 0.0

    summary = {
        "shots": [Shot(index=i, start_s=s, end_s=e) for i, (s, e) in enumerate(scan.shots)],
        "cuts_s": scan.cuts_s,
        "shot_count": len(scan.shots),
        "motion": motion,
        "motion_level": motion_level(motion),
        "luminance": luminance,
        "lighting_key": lighting_key(luminance),
        "dominant_colour": Counter(f.dominant_colour for f in frames).most_common(1)[0][0] if frames else "unknown",
        "colour_temperature": Counter(f.colour_temperature for f in frames).most_common(1)[0][0] if frames else "unknown",
        "frames_with_faces": sum(1 for f in frames if f.faces),
        "shot_scales": dict(Counter(f.shot_scale for f in frames if f.shot_scale)),
    }
    text = render_facts({**summary, "n_frames": len(frames)})
    return VisualsRecord(**{**ctx.provenance, "model": "opencv haarcascade_frontalface_default"}, frames=frames,
                         text=text, **summary)
