"""embed: a vector for each item's sequential text representation (``summarize``).

Version 2: each text in a forward pass of its own (``pipelines/models/embedder.py``), so a
vector no longer depends on the texts it was batched with; version 1 padded batches.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from pydantic import Field

from pipelines.records import EmbeddingRecord, Item, SummaryRecord
from pipelines.stages.registry import StageConfig, StageContext, stage


class EmbedConfig(StageConfig):
    model: str = Field("bundled:all-minilm-l6-v2", description="sentence-transformers model: bundled:, directory or id")
    device: str = "cpu"
    normalize: bool = Field(True, description="L2-normalise (cosine similarity = inner product)")
    batch_size: int = Field(32, ge=1, repr=False,
                            description="changes nothing since version 2 (each text is its own forward pass); "
                                        "accepted so that configs and runs that set it still load")


@stage("embed", version=3,  # 3: one torch thread per forward pass (the same vector under any executor)
       config=EmbedConfig, record=EmbeddingRecord, needs=("summarize",), item_parts=(), batched=True)
def embed(items: list[Item], cfg: EmbedConfig, ctxs: list[StageContext]) -> list[Any]:
    from pipelines.models.embedder import TextEmbedder

    texts = []
    for ctx in ctxs:
        summary = ctx.upstream["summarize"]
        assert isinstance(summary, SummaryRecord)
        texts.append(summary.text)
    embedder = ctxs[0].models.get(f"embedder:{cfg.model}:{cfg.device}", lambda: TextEmbedder(cfg.model, device=cfg.device))
    vectors = embedder.embed(texts, normalize=cfg.normalize)
    return [
        EmbeddingRecord(
            **ctx.provenance, dim=int(vector.shape[0]),
            vector_b64=base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii"),
            text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        )
        for ctx, text, vector in zip(ctxs, texts, vectors)
    ]
