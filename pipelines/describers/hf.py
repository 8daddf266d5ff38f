"""The ``hf`` frame describer: any transformers image-text-to-text model from an id in the
local HF cache or a local directory (BLIP, Florence-2, SmolVLM, Qwen2-VL, LLaVA-OneVision ...),
instructed by the config's prompt file, one ``generate`` call per frame (in a batch, a
description would depend on the frames batched with it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.errors import ConfigError
from pipelines.records import ImageLabel

if TYPE_CHECKING:
    from pipelines.stages.describe_frames import DescribeFramesConfig
    from pipelines.stages.registry import StageContext


def describe(flat: list[tuple[int, int, Any]], cfg: DescribeFramesConfig,
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
