"""The ``offline`` frame describer (no download): a deterministic sentence per frame composed
from real small models and measurements — EfficientNet-Lite0 ImageNet labels (bundled
weights), the COCO objects found by ``detect_objects``, the on-screen text read by
``read_onscreen_text``, faces and shot scale, light and colour from ``measure_visuals``
(measured here when that stage is not in the config). One frame per forward pass: a batch's
float arithmetic depends on the other images in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.records import ImageLabel, ObjectsRecord, OnscreenTextRecord, VisualsRecord

if TYPE_CHECKING:
    from pipelines.stages.describe_frames import DescribeFramesConfig
    from pipelines.stages.registry import StageContext


def describe(flat: list[tuple[int, int, Any]], cfg: DescribeFramesConfig,
             ctxs: list[StageContext]) -> list[tuple[str, list[ImageLabel]]]:
    from pipelines.models.imagenet import ImageNetClassifier

    model = str(cfg.model)
    classifier = ctxs[0].models.get(f"imagenet:{model}:{cfg.device}", lambda: ImageNetClassifier(model, device=cfg.device))
    out: list[tuple[str, list[ImageLabel]]] = []
    for i, j, rgb in flat:
        labels = classifier.classify([rgb], top_k=cfg.top_k)[0]  # one frame per pass (see the module docstring)
        ctx = ctxs[i]
        kept = merge_labels(labels, cfg.min_label_score)
        index = ctx.upstream["extract_frames"].frames[j].index  # type: ignore[attr-defined]
        ocr = ctx.upstream.get("read_onscreen_text")
        visuals = ctx.upstream.get("measure_visuals")
        facts = _frame_facts(visuals if isinstance(visuals, VisualsRecord) else None, index, rgb, ctx)
        texts = _frames_text(ocr if isinstance(ocr, OnscreenTextRecord) else None, index)
        found = ctx.upstream.get("detect_objects")
        objects = _frame_objects(found if isinstance(found, ObjectsRecord) else None, index)
        out.append((compose_sentence(kept, texts, facts, objects), kept))
    return out


def merge_labels(labels: list[Any], min_score: float) -> list[ImageLabel]:
    """Labels at or above ``min_score``; classes sharing a readable name ("missile") are summed."""
    scores: dict[str, float] = {}
    for label in labels:
        name = label.name
        scores[name] = scores.get(name, 0.0) + label.score
    merged = sorted(scores.items(), key=lambda kv: -kv[1])
    return [ImageLabel(name=n, score=round(s, 4)) for n, s in merged if s >= min_score]


def compose_sentence(labels: list[ImageLabel], texts: list[str], facts: dict[str, Any], objects: str = "") -> str:
    """The offline description of one frame; same inputs, same sentence. Label scores stay in
    the record, not the sentence, so that frames showing the same thing read the same.
    ``objects`` is the detector's phrase for the frame ("a person in the centre, a cup")."""
    scale = facts.get("shot_scale")
    n_faces = facts.get("faces", 0)
    head = (scale[0].upper() + scale[1:]) if scale else "Frame"
    head += f" with {n_faces} face{'s' if n_faces != 1 else ''}" if n_faces else " without faces"
    parts = [head]
    if labels:
        parts.append("looks like " + ", ".join(label.name for label in labels))
    else:
        parts.append("no confident object label")
    if objects:
        parts.append("objects: " + objects)
    if texts:
        parts.append("on-screen text " + ", ".join(f'"{t}"' for t in texts))
    parts.append(
        f"{facts['lighting_key']} lighting, dominant colour {facts['dominant_colour']}, "
        f"{facts['colour_temperature']} tones"
    )
    return "; ".join(parts) + "."


def _frame_facts(visuals: VisualsRecord | None, index: int, rgb: Any, ctx: StageContext) -> dict[str, Any]:
    if visuals is not None:
        for f in visuals.frames:
            if f.frame_index == index:
                return {"shot_scale": f.shot_scale, "faces": len(f.faces), "lighting_key": f.lighting_key,
                        "dominant_colour": f.dominant_colour, "colour_temperature": f.colour_temperature}
    from pipelines.models.faces import FaceDetector
    from pipelines.vision.color import measure_colour
    from pipelines.vision.framing import scale_from_face

    colour = measure_colour(rgb)
    faces = ctx.models.get("faces:haar:0.04", FaceDetector).detect(rgb)
    return {"shot_scale": scale_from_face(faces[0].height_share) if faces else None, "faces": len(faces), "lighting_key": colour.lighting_key,
            "dominant_colour": colour.dominant_colour, "colour_temperature": colour.colour_temperature}


def _frame_objects(record: ObjectsRecord | None, index: int) -> str:
    from pipelines.models.objects import object_phrase

    if record is None:
        return ""
    return next((object_phrase(f.objects) for f in record.frames if f.frame_index == index), "")


def _frames_text(ocr: OnscreenTextRecord | None, index: int) -> list[str]:
    if ocr is None:
        return []
    for frame in ocr.frames:
        if frame.frame_index == index:
            return [line.text for line in frame.lines]
    return []
