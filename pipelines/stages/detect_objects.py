"""detect_objects: COCO objects with boxes in every sampled frame (SSD-MobileNet-v2).

The detector and its thresholds are described in ``pipelines/models/objects.py`` (score at
least ``min_score``, 16:9 frames also searched in square tiles). Per frame the record keeps
every box with its label, score and position (left, centre or right third); per video, in
how many sampled frames each label was seen, and ``text``: one sentence naming the objects,
most frequent first. These boxes are the evidence that the hallucination audit checks object
claims against ("there is a cup"): an object absent from every sampled frame's detections is
a claimed object nobody measured (CHAIR). A file without a video stream gives an empty record.
"""

from __future__ import annotations

from collections import Counter

from pydantic import Field

from pipelines.media import load_frame
from pipelines.records import DetectedObject, FrameObjects, FramesRecord, Item, ObjectsRecord
from pipelines.stages.registry import StageConfig, StageContext, stage


class DetectObjectsConfig(StageConfig):
    min_score: float = Field(0.5, gt=0, lt=1, description="lowest detector score kept")
    tiles: bool = Field(True, description="also search wide frames in overlapping square tiles (finds small people)")
    max_objects: int = Field(20, ge=1, description="boxes kept per frame, best first")


def render_objects(counts: dict[str, int], n_frames: int) -> str:
    if not n_frames:
        return "No video stream: no objects detected."
    if not counts:
        return f"No objects detected in the {n_frames} sampled frames."
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return "Objects detected: " + ", ".join(f"{label} in {n} of {n_frames} frames" for label, n in ranked) + "."


@stage("detect_objects", version=1, config=DetectObjectsConfig, record=ObjectsRecord, needs=("extract_frames",),
       item_parts=(), models=lambda cfg: [_model_name()])
def detect_objects(item: Item, cfg: DetectObjectsConfig, ctx: StageContext) -> ObjectsRecord:
    from pipelines.models.objects import POOL_KEY, ObjectDetector, position_name

    frames_record = ctx.upstream["extract_frames"]
    assert isinstance(frames_record, FramesRecord)
    detector = ctx.models.get(POOL_KEY, ObjectDetector) if frames_record.frames else None
    frames: list[FrameObjects] = []
    for ref in frames_record.frames:
        found = detector.detect(load_frame(ref.path), cfg.min_score, tiles=cfg.tiles)[: cfg.max_objects]
        frames.append(FrameObjects(frame_index=ref.index, timestamp_s=ref.timestamp_s, objects=[
            DetectedObject(label=d.label, score=d.score, box=list(d.box), position=position_name(d.box)) for d in found
        ]))
    counts = dict(Counter(label for f in frames for label in {o.label for o in f.objects}))
    return ObjectsRecord(**{**ctx.provenance, "model": _model_name()}, frames=frames, counts=counts,
                         text=render_objects(counts, len(frames)))


def _model_name() -> str:
    from pipelines.models.objects import MODEL_NAME

    return MODEL_NAME
