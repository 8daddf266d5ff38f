"""describe_frames: one text description per extracted frame.

Backends (``backend`` in the config):

* ``offline`` (default, no download): a deterministic sentence per frame composed from real
  small models and measurements — EfficientNet-Lite0 ImageNet labels (bundled weights), the
  COCO objects with their place found by ``detect_objects`` (when the config runs it), the
  on-screen text read by ``read_onscreen_text``, faces and shot scale, light and colour from
  ``measure_visuals`` (measured here when that stage is not in the config).
* ``hf``: any transformers image-text-to-text model from an id in the local HF cache or a
  local directory (BLIP, Florence-2, SmolVLM, Qwen2-VL, LLaVA-OneVision ...), instructed by a
  prompt file (``prompts/describe_frames/neutral.md`` or ``film.md``), one ``generate`` call
  per frame (in a batch, a description would depend on the frames batched with it).
* ``openai``: any OpenAI-compatible vision endpoint (vLLM or SGLang serving Qwen2.5-VL or
  LLaVA-OneVision, a hosted API) given in the ``llm`` block: one request per frame with the
  same prompt file, the frame JPEG sent as a data URL (downscaled to ``max_side``, and to the
  model's ``llm.max_image_side``), requests in flight, retried and cached as every LLM call
  is (``pipelines/models/llm.py``); a frame whose request fails fails its item only.

The stage is batched: the runner hands it a batch of items, and every per-item problem (an
unreadable frame, say) comes back as that item's error while the others are described. An
item without frames (an audio-only file) gets a record with no descriptions.

The offline backend classifies one frame per forward pass: a batch's float arithmetic
depends on its size and on the other images in it (differences in the last bits, enough to
move a score rounded to 4 decimals), so a frame's labels would change with whichever items
the runner happened to batch it with (a resumed run, ``--limit``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field, field_validator, model_validator

from pipelines.errors import ConfigError, LLMError
from pipelines.media import load_frame
from pipelines.models.llm import LLMConfig
from pipelines.records import (
    FrameDescription,
    FrameDescriptionsRecord,
    FramesRecord,
    ImageLabel,
    Item,
    ObjectsRecord,
    OnscreenTextRecord,
    VisualsRecord,
)
from pipelines.registry import Registry
from pipelines.stages.registry import StageConfig, StageContext, repr_unless_default, stage

OFFLINE_CLASSIFIER = "bundled:efficientnet-lite0"


class DescribeFramesConfig(StageConfig):
    backend: str = Field("offline", description="a name of FRAME_DESCRIBERS: offline (composed from small real "
                                                "models), hf (a transformers image-text-to-text model) or openai "
                                                "(an OpenAI-compatible vision endpoint, given in llm)")
    model: str | None = Field(None, description="hf: model id or local directory; offline: ImageNet weights")
    prompt: str = Field("describe_frames/neutral", description="hf: prompt file, e.g. describe_frames/film")
    device: str = "cpu"
    dtype: str = Field("float32", description="hf: torch dtype (float32, bfloat16, float16)")
    max_new_tokens: int = Field(60, ge=1, description="hf: length of each description")
    batch_size: int = Field(8, ge=1, repr=False,
                            description="changes nothing: each frame is its own model call (a batched frame's "
                                        "description would depend on its batch-mates); accepted so that configs "
                                        "and runs that set it still load")
    top_k: int = Field(3, ge=1, le=10, description="offline: ImageNet labels considered per frame")
    min_label_score: float = Field(0.10, ge=0, le=1, description="offline: labels below this are left out")
    max_side: int = Field(1024, ge=64, description="frames larger than this are downscaled first")
    llm: LLMConfig | None = Field(None, description="openai: the vision endpoint and model (backend: openai, model, "
                                                    "base_url, max_tokens, max_image_side, max_concurrency ...)")

    __repr_args__ = repr_unless_default("llm")  # configs from before it keep their cache keys

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        return FRAME_DESCRIBERS.check(value)

    @model_validator(mode="after")
    def _model_for_backend(self) -> "DescribeFramesConfig":
        if self.backend == "hf" and not self.model:
            raise ValueError("backend 'hf' needs 'model': a local model directory or an id in the local HF cache")
        if self.backend == "openai":
            if self.llm is None or not self.llm.spec.sees_images:
                raise ValueError("backend 'openai' needs an llm block whose backend takes images, e.g. llm: {backend: "
                                 "openai, model: <served VLM>, base_url: http://127.0.0.1:8000/v1}")
            self.model = self.llm.model
        if self.backend == "offline" and self.model is None:
            self.model = OFFLINE_CLASSIFIER
        return self


def _prompts(cfg: DescribeFramesConfig) -> list[str]:
    return [cfg.prompt] if cfg.backend in ("hf", "openai") else []


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


@stage("describe_frames", version=3, config=DescribeFramesConfig, record=FrameDescriptionsRecord,
       needs=("extract_frames",), uses=("read_onscreen_text", "measure_visuals", "detect_objects"), reads=(),
       batched=True, prompts=_prompts, models=lambda cfg: [str(cfg.model)] if cfg.model else [])
def describe_frames(items: list[Item], cfg: DescribeFramesConfig, ctxs: list[StageContext]) -> list[Any]:
    # load and check every item's frames first: a bad frame fails its item only
    loaded: list[tuple[int, list[Any]]] = []
    results: list[Any] = [None] * len(items)
    for i, ctx in enumerate(ctxs):
        frames_record = ctx.inputs["extract_frames"]
        assert isinstance(frames_record, FramesRecord)
        try:
            loaded.append((i, [load_frame(f.path, cfg.max_side) for f in frames_record.frames]))
        except Exception as exc:  # reported per item by the executor
            results[i] = exc
    flat = [(i, j, rgb) for i, images in loaded for j, rgb in enumerate(images)]
    if not flat:  # only audio-only items: no model to load
        texts = []
    else:
        texts = FRAME_DESCRIBERS.get(cfg.backend)(flat, cfg, ctxs)

    per_item: dict[int, list[FrameDescription]] = {i: [] for i, _ in loaded}
    for (i, j, _), described in zip(flat, texts):
        if isinstance(described, Exception):  # this frame's request failed: its item fails, the others go on
            results[i] = described
            per_item.pop(i, None)
            continue
        if i not in per_item:
            continue
        text, labels = described
        ref = ctxs[i].inputs["extract_frames"].frames[j]  # type: ignore[attr-defined]
        per_item[i].append(FrameDescription(frame_index=ref.index, timestamp_s=ref.timestamp_s, text=text, labels=labels))
    for i, descriptions in per_item.items():
        provenance = dict(ctxs[i].provenance)
        if cfg.backend in ("hf", "openai"):
            from pipelines.prompts import load_prompt

            prompt = load_prompt(cfg.prompt)
            provenance.update(prompt_id=prompt.id, prompt_version=prompt.version)
        results[i] = FrameDescriptionsRecord(**provenance, backend=cfg.backend, descriptions=descriptions)
    return results


def _describe_offline(flat: list[tuple[int, int, Any]], cfg: DescribeFramesConfig,
                      ctxs: list[StageContext]) -> list[tuple[str, list[ImageLabel]]]:
    from pipelines.models.imagenet import ImageNetClassifier

    model = str(cfg.model)
    classifier = ctxs[0].models.get(f"imagenet:{model}:{cfg.device}", lambda: ImageNetClassifier(model, device=cfg.device))
    out: list[tuple[str, list[ImageLabel]]] = []
    for i, j, rgb in flat:
        labels = classifier.classify([rgb], top_k=cfg.top_k)[0]  # one frame per pass (see the module docstring)
        ctx = ctxs[i]
        kept = merge_labels(labels, cfg.min_label_score)
        index = ctx.inputs["extract_frames"].frames[j].index  # type: ignore[attr-defined]
        ocr = ctx.inputs.get("read_onscreen_text")
        visuals = ctx.inputs.get("measure_visuals")
        facts = _frame_facts(visuals if isinstance(visuals, VisualsRecord) else None, index, rgb, ctx)
        texts = _frames_text(ocr if isinstance(ocr, OnscreenTextRecord) else None, index)
        found = ctx.inputs.get("detect_objects")
        objects = _frame_objects(found if isinstance(found, ObjectsRecord) else None, index)
        out.append((compose_sentence(kept, texts, facts, objects), kept))
    return out


def _describe_hf(flat: list[tuple[int, int, Any]], cfg: DescribeFramesConfig,
                 ctxs: list[StageContext]) -> list[tuple[str, list[ImageLabel]]]:
    from PIL import Image

    from pipelines.models.vlm import HFFrameDescriber
    from pipelines.prompts import load_prompt

    if not ctxs:
        return []
    instruction = load_prompt(cfg.prompt).render()
    model = str(cfg.model)
    describer = ctxs[0].models.get(
        f"vlm:{model}:{cfg.device}:{cfg.dtype}:{cfg.max_new_tokens}",
        lambda: HFFrameDescriber(model, device=cfg.device, dtype=cfg.dtype, max_new_tokens=cfg.max_new_tokens),
    )
    images = [Image.fromarray(rgb) for _, _, rgb in flat]
    if not images:
        return []
    texts = describer.describe(images, instruction)
    if len(texts) != len(images):
        raise ConfigError(f"model {model} returned {len(texts)} descriptions for {len(images)} frames")
    return [(" ".join(t.split()), []) for t in texts]


def _describe_openai(flat: list[tuple[int, int, Any]], cfg: DescribeFramesConfig,
                     ctxs: list[StageContext]) -> list[tuple[str, list[ImageLabel]] | LLMError]:
    """One request per frame to the ``llm`` block's vision endpoint: the prompt file's text and
    the frame's JPEG (by its file, so the cache key holds the file's sha256)."""
    from pipelines.models.llm import image_part
    from pipelines.prompts import load_prompt

    assert cfg.llm is not None
    if not ctxs:
        return []
    instruction = load_prompt(cfg.prompt).render()
    requests = []
    for i, j, _ in flat:
        ref = ctxs[i].inputs["extract_frames"].frames[j]  # type: ignore[attr-defined]
        content = [{"type": "text", "text": instruction}, image_part(ref.path, cfg.max_side)]
        requests.append(([("user", content)], None))
    replies = ctxs[0].llm(cfg.llm).answer_all(requests)
    return [reply if isinstance(reply, LLMError) else (" ".join(reply.split()), []) for reply in replies]


# name -> fn(frames as (item position, frame position, rgb), config, contexts) -> per frame, (text, labels)
# or the exception that failed it (its item fails, the others are described)
FRAME_DESCRIBERS: Registry[Callable[..., list[tuple[str, list[ImageLabel]]]]] = Registry("frame describer")
FRAME_DESCRIBERS.register("offline", _describe_offline)
FRAME_DESCRIBERS.register("hf", _describe_hf)
FRAME_DESCRIBERS.register("openai", _describe_openai)
