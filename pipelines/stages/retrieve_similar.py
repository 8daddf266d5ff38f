"""retrieve_similar: the k most similar *labelled* items for each item (FAISS, cosine).

The index holds only items of ``index_splits`` (default: train) that have a gold label, so no
test item — and no test label — can ever be retrieved. For each query, the item itself (same
id) and exact duplicates (identical summary text) are left out, and each text is returned at
most once. The index is built once per run from the corpus of ``embed`` records; each batch of
queries (at least 1,024) is searched in one FAISS call.
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


def _filter(index: LabelledIndex, positions: Any, scores: Any, query_id: str, query_hash: str,
            k: int) -> tuple[list[tuple[int, float]], list[str]]:
    hits: list[tuple[int, float]] = []
    excluded: list[str] = []
    seen_texts = {query_hash}
    for pos, score in zip(positions, scores):
        if pos < 0:
            continue
        if index.ids[pos] == query_id or index.text_hashes[pos] in seen_texts:
            excluded.append(index.ids[pos])
            continue
        seen_texts.add(index.text_hashes[pos])
        hits.append((int(pos), float(score)))
        if len(hits) == k:
            break
    return hits, excluded


def search_many(index: LabelledIndex, queries: list[tuple[str, EmbeddingRecord]], k: int
                ) -> list[tuple[list[tuple[int, float]], list[str]]]:
    """For each ``(item id, embedding)``: up to ``k`` (position, score) hits, skipping the query
    itself, its exact duplicates and repeated texts, and the ids skipped. All queries go to FAISS
    in one call (a matrix product, not one scan per query); the few that lose too many hits to
    duplicates are searched again, deeper, on their own."""
    if index.size == 0 or not queries:
        return [([], []) for _ in queries]
    wanted = min(index.size, k * 2 + 8)
    matrix = np.stack([q.vector() for _, q in queries]).astype(np.float32)
    scores, positions = index.index.search(matrix, wanted)
    out = []
    for (query_id, query), row_pos, row_scores in zip(queries, positions, scores):
        hits, excluded = _filter(index, row_pos, row_scores, query_id, query.text_sha256, k)
        deeper = wanted
        while len(hits) < k and deeper < index.size:
            deeper = min(index.size, deeper * 4)
            more_scores, more_pos = index.index.search(query.vector().reshape(1, -1).astype(np.float32), deeper)
            hits, excluded = _filter(index, more_pos[0], more_scores[0], query_id, query.text_sha256, k)
        out.append((hits, excluded))
    return out


def _neighbour_text(corpus: Corpus, item_id: str, max_chars: int, rendered: dict[str, Any]) -> tuple[str, Any]:
    """A neighbour's text fitted into ``max_chars`` (each text once per index: a popular
    neighbour of thousands of queries is fitted once)."""
    if item_id not in rendered:
        summary = corpus.records["summarize"][item_id]
        assert isinstance(summary, SummaryRecord)
        parts, _ = fit_parts(summary.parts, max_chars)
        rendered[item_id] = (render_sections(parts) if summary.parts else cut_words(summary.text, max_chars), parts)
    return rendered[item_id]


@stage("retrieve_similar", version=2, config=RetrieveSimilarConfig, record=NeighboursRecord,
       needs=("embed", "summarize"), item_parts=(), corpus=("embed", "summarize"), batched=True, min_batch=1024)
def retrieve_similar(items: list[Item], cfg: RetrieveSimilarConfig, ctxs: list[StageContext]) -> list[Any]:
    """The batch's neighbours from one FAISS search (:func:`search_many`)."""
    corpus = ctxs[0].corpus
    assert corpus is not None
    key = f"faiss:{corpus.hash}:{cfg.task}:{','.join(cfg.index_splits)}"
    index = ctxs[0].models.get(key, lambda: build_index(corpus, cfg))
    rendered = ctxs[0].models.get(f"{key}:texts:{cfg.max_chars}", dict)
    queries = []
    for item, ctx in zip(items, ctxs):
        query = ctx.upstream["embed"]
        assert isinstance(query, EmbeddingRecord)
        queries.append((item.item_id, query))
    out: list[Any] = []
    for ctx, (hits, excluded) in zip(ctxs, search_many(index, queries, cfg.k)):
        neighbours = []
        for pos, score in hits:
            item_id = index.ids[pos]
            text, parts = _neighbour_text(corpus, item_id, cfg.max_chars, rendered)
            neighbours.append(Neighbour(item_id=item_id, score=round(score, 5), label=index.labels[pos],
                                        split=corpus.items[item_id].split, text=text, parts=parts))
        out.append(NeighboursRecord(**{**ctx.provenance, "model": f"faiss IndexFlatIP over {','.join(cfg.index_splits)}"},
                                    neighbours=neighbours, index_size=index.size, excluded=excluded))
    return out
