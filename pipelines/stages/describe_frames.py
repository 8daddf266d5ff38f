"""describe_frames: one text description per extracted frame.

Backends (``backend`` in the config), one file each in ``pipelines/describers/``, registered
in ``FRAME_DESCRIBERS`` below:

* ``offline`` (default, no download): a deterministic sentence per frame composed from real
  small models and measurements (ImageNet labels, COCO objects, on-screen text, faces and
  shot scale, light and colour).
* ``hf``: any transformers image-text-to-text model from a local directory or the local HF
  cache, instructed by a prompt file, one ``generate`` call per frame.
* ``openai``: any OpenAI-compatible vision endpoint given in the ``llm`` block, one request
  per frame with the same prompt file and the frame's JPEG.

The stage is batched: the runner hands it a batch of items, and every per-item problem (an
unreadable frame, say) comes back as that item's error while the others are described. An
item without frames (an audio-only file) gets a record with no descriptions.

The offline backend classifies one frame per forward pass: a batch's float arithmetic
depends on its size and on the other images in it (differences in the last bits, enough to
move a score rounded to 4 decimals), so a frame's labels would change with whichever items
the runner happened to batch it with (a resumed run, ``--limit``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator, model_validator

from pipelines.media import load_frame
from pipelines.models.llm import LLMConfig
from pipelines.prompts import load_prompt
from pipelines.records import (
    FrameDescription,
    FrameDescriptionsRecord,
    FramesRecord,
    Item,
)
from pipelines.registry import Registry
from pipelines.stages.registry import StageConfig, StageContext, repr_unless_default, stage


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
        describer = FRAME_DESCRIBERS.get(self.backend)
        if describer.needs_model and not self.model:
            raise ValueError(f"backend {self.backend!r} needs 'model': a local model directory or an id in the local "
                             "HF cache")
        if describer.uses_llm:
            if self.llm is None or not self.llm.spec.sees_images:
                raise ValueError(f"backend {self.backend!r} needs an llm block whose backend takes images, e.g. llm: "
                                 "{backend: openai, model: <served VLM>, base_url: http://127.0.0.1:8000/v1}")
            self.model = self.llm.model
        if self.model is None and describer.default_model:
            self.model = describer.default_model
        return self


def _prompts(cfg: DescribeFramesConfig) -> list[str]:
    return [cfg.prompt] if FRAME_DESCRIBERS.get(cfg.backend).uses_prompt else []


@stage("describe_frames", version=3, config=DescribeFramesConfig, record=FrameDescriptionsRecord,
       needs=("extract_frames",), uses=("read_onscreen_text", "measure_visuals", "detect_objects"), item_parts=(),
       batched=True, prompts=_prompts, models=lambda cfg: [str(cfg.model)] if cfg.model else [])
def describe_frames(items: list[Item], cfg: DescribeFramesConfig, ctxs: list[StageContext]) -> list[Any]:
    # load and check every item's frames first: a bad frame fails its item only
    loaded: list[tuple[int, list[Any]]] = []
    results: list[Any] = [None] * len(items)
    for i, ctx in enumerate(ctxs):
        frames_record = ctx.upstream["extract_frames"]
        assert isinstance(frames_record, FramesRecord)
        try:
            loaded.append((i, [load_frame(f.path, cfg.max_side) for f in frames_record.frames]))
        except Exception as exc:  # reported per item by the executor
            results[i] = exc
    flat = [(i, j, rgb) for i, images in loaded for j, rgb in enumerate(images)]
    if not flat:  # only audio-only items: no model to load
        texts = []
    else:
        texts = FRAME_DESCRIBERS.get(cfg.backend).load()(flat, cfg, ctxs)

    per_item: dict[int, list[FrameDescription]] = {i: [] for i, _ in loaded}
    for (i, j, _), described in zip(flat, texts):
        if isinstance(described, Exception):  # this frame's request failed: its item fails, the others go on
            results[i] = described
            per_item.pop(i, None)
            continue
        if i not in per_item:
            continue
        text, labels = described
        ref = ctxs[i].upstream["extract_frames"].frames[j]  # type: ignore[attr-defined]
        per_item[i].append(FrameDescription(frame_index=ref.index, timestamp_s=ref.timestamp_s, text=text, labels=labels))
    for i, descriptions in per_item.items():
        provenance = dict(ctxs[i].provenance)
        if FRAME_DESCRIBERS.get(cfg.backend).uses_prompt:
            prompt = load_prompt(cfg.prompt)
            provenance.update(prompt_id=prompt.id, prompt_version=prompt.version)
        results[i] = FrameDescriptionsRecord(**provenance, backend=cfg.backend, descriptions=descriptions)
    return results


@dataclass(frozen=True)
class FrameDescriber:
    """A frame-describer backend: where its ``describe`` function lives (``module:function``,
    imported when first used) and what of the stage's config it uses, so that nothing else
    branches on its name."""

    function: str
    uses_prompt: bool = False  # the config's prompt file instructs it (its id and version enter the key)
    needs_model: bool = False  # the config must name a model (id or directory)
    uses_llm: bool = False  # the llm block is its model (a backend that takes images)
    default_model: str | None = None

    def load(self) -> Callable[..., list[Any]]:
        module, _, function = self.function.partition(":")
        return getattr(importlib.import_module(module), function)


# name -> the backend; its describe(frames as (item position, frame position, rgb), config, contexts)
# returns per frame (text, labels) or the exception that failed it (its item fails, the others are described)
FRAME_DESCRIBERS: Registry[FrameDescriber] = Registry("frame describer")
FRAME_DESCRIBERS.register("offline", FrameDescriber("pipelines.describers.offline:describe",
                                                    default_model="bundled:efficientnet-lite0"))
FRAME_DESCRIBERS.register("hf", FrameDescriber("pipelines.describers.hf:describe", uses_prompt=True, needs_model=True))
FRAME_DESCRIBERS.register("openai", FrameDescriber("pipelines.describers.openai:describe", uses_prompt=True,
                                                   uses_llm=True))
