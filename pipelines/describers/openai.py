"""The ``openai`` frame describer: any OpenAI-compatible vision endpoint given in the config's
``llm`` block (vLLM or SGLang serving Qwen2.5-VL or LLaVA-OneVision, a hosted API): one request
per frame with the prompt file's text and the frame's JPEG, in flight together, retried and
cached as every LLM call is; a frame whose request fails fails its item only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.errors import LLMError
from pipelines.records import ImageLabel

if TYPE_CHECKING:
    from pipelines.stages.describe_frames import DescribeFramesConfig
    from pipelines.stages.registry import StageContext


def describe(flat: list[tuple[int, int, Any]], cfg: DescribeFramesConfig,
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
        ref = ctxs[i].upstream["extract_frames"].frames[j]  # type: ignore[attr-defined]
        content = [{"type": "text", "text": instruction}, image_part(ref.path, cfg.max_side)]
        requests.append(([("user", content)], None))
    replies = ctxs[0].llm(cfg.llm).answer_all(requests)
    return [reply if isinstance(reply, LLMError) else (" ".join(reply.split()), []) for reply in replies]
