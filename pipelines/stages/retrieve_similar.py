"""retrieve_similar: the k most similar *labelled* items for each item (FAISS, cosine).

The index holds only items of ``index_splits`` (default: train) that have a gold label, so no
test item — and no test label — can ever be retrieved. For each query, the item itself (same
id) and exact duplicates (identical summary text) are left out, and each text is returned at
most once. The index is built once per run from the corpus of ``embed`` records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from pipelines.budget import cut_words, fit_parts, render_sections
from pipelines.records import EmbeddingRecord, Item, Neighbour, NeighboursRecord, SummaryRecord
from pipelines.stages.registry import Corpus, StageConfig, StageContext, stage
from pipelines.tasks import get_task


class RetrieveSimilarConfig(StageConfig):
    task: str = Field(description="the case study's task (filled in from the config's task:)")
    k: int = Field(10, ge=1, le=200, description="neighbours per item (the paper: 10)")
    index_splits: list[str] = Field(default_factory=lambda: ["train"], description="splits the index is built from")
    max_chars: int = Field(1500, ge=100, description="each neighbour's text is fitted into this many characters, "
                                                      "every section keeping a share (pipelines/budget.py)")


@dataclass
class LabelledIndex:
    ids: list[str]
    labels: list[str]
    text_hashes: list[str]
    index: Any  # faiss.IndexFlatIP

    @property
    def size(self) -> int:
        return len(self.ids)


def build_index(corpus: Corpus, cfg: RetrieveSimilarConfig) -> LabelledIndex:
    import faiss

    task = get_task(cfg.task)
    ids, labels, hashes, vectors = [], [], [], []
    for item_id in sorted(corpus.items):
        item = corpus.items[item_id]
        label = task.gold(item.labels)
        if item.split not in cfg.index_splits or label is None:
            continue
        record = corpus.records["embed"][item_id]
        assert isinstance(record, EmbeddingRecord)
        ids.append(item_id)
        labels.append(label)
        hashes.append(record.text_sha256)
        vectors.append(record.vector())
    dim = vectors[0].shape[0] if vectors else 1
    index = faiss.IndexFlatIP(dim)
    if vectors:
        index.add(np.stack(vectors).astype(np.float32))
    return LabelledIndex(ids, labels, hashes, index)


def search(index: LabelledIndex, query: EmbeddingRecord, query_id: str, k: int) -> tuple[list[tuple[int, float]], list[str]]:
    """Up to ``k`` (position, score) hits, skipping the query itself, its exact duplicates and
    repeated texts; also the ids that were skipped."""
    if index.size == 0:
        return [], []
    wanted = min(index.size, k * 2 + 8)
    while True:
        scores, positions = index.index.search(query.vector().reshape(1, -1), wanted)
        hits: list[tuple[int, float]] = []
        excluded: list[str] = []
        seen_texts = {query.text_sha256}
        for pos, score in zip(positions[0], scores[0]):
            if pos < 0:
                continue
            if index.ids[pos] == query_id or index.text_hashes[pos] in seen_texts:
                excluded.append(index.ids[pos])
                continue
            seen_texts.add(index.text_hashes[pos])
            hits.append((int(pos), float(score)))
            if len(hits) == k:
                return hits, excluded
        if wanted >= index.size:
            return hits, excluded
        wanted = min(index.size, wanted * 4)


@stage("retrieve_similar", version=2, config=RetrieveSimilarConfig, record=NeighboursRecord,
       needs=("embed", "summarize"), reads=(), corpus=("embed", "summarize"))
def retrieve_similar(item: Item, cfg: RetrieveSimilarConfig, ctx: StageContext) -> NeighboursRecord:
    corpus = ctx.corpus
    assert corpus is not None
    key = f"faiss:{corpus.hash}:{cfg.task}:{','.join(cfg.index_splits)}"
    index = ctx.models.get(key, lambda: build_index(corpus, cfg))
    query = ctx.inputs["embed"]
    assert isinstance(query, EmbeddingRecord)
    hits, excluded = search(index, query, item.item_id, cfg.k)
    neighbours = []
    for pos, score in hits:
        item_id = index.ids[pos]
        summary = corpus.records["summarize"][item_id]
        assert isinstance(summary, SummaryRecord)
        parts, _ = fit_parts(summary.parts, cfg.max_chars)
        text = render_sections(parts) if summary.parts else cut_words(summary.text, cfg.max_chars)
        neighbours.append(Neighbour(item_id=item_id, score=round(score, 5), label=index.labels[pos],
                                    split=corpus.items[item_id].split, text=text, parts=parts))
    return NeighboursRecord(**{**ctx.provenance, "model": f"faiss IndexFlatIP over {','.join(cfg.index_splits)}"},
                            neighbours=neighbours, index_size=index.size, excluded=excluded)
