"""Cost that grows with the work: summarize → embed → retrieve_similar on text-only manifests of
2,000 and 20,000 items, per-stage seconds and their 20k/2k ratio (10× the items: near 10×
is linear; retrieval, an exact search over a train index that grows with the items, is at
best quadratic in the items, but in one matrix product per batch rather than one scan per
query).

    .venv/bin/python bench/scaling.py              # 2,000 and 20,000 items (about 4 min on 2 cores)
    .venv/bin/python bench/scaling.py --sizes 500 5000 --per-query

``--per-query`` also times the largest size's retrieval one query per FAISS call (the old
behaviour) on the same index, for the speed-up. Items are generated with a fixed seed: titles
and descriptions drawn from a small vocabulary, 90 % train (labelled), 10 % test.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ("coffee espresso football final goal cat kitten dog city council parking rules recipe apple pie kitchen "
         "music video singer concert rocket launch countdown space harbour boats sunset beach surf wave mountain "
         "hike trail snow ski bike race road car engine review phone unboxing camera lens travel vlog market "
         "street food night lights festival dance crowd news weather storm rain school lesson science experiment").split()


def write_manifest(folder: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    path = folder / "manifest.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            split = "test" if i % 10 == 0 else "train"
            row = {"id": f"t{i:06d}", "title": " ".join(rng.choices(WORDS, k=rng.randint(4, 9))).capitalize(),
                   "description": " ".join(rng.choices(WORDS, k=rng.randint(12, 30))).capitalize() + ".",
                   "split": split, "labels": {"popularity": rng.choice(["local-hit", "global-big-hit"])}}
            out.write(json.dumps(row) + "\n")
    return path


def run_size(n: int, k: int) -> tuple[dict[str, float], Path]:
    from pipelines.config import validate_config
    from pipelines.runner import Runner

    tmp = Path(tempfile.mkdtemp(prefix=f"m2t-scaling-{n}-"))
    manifest = write_manifest(tmp, n)
    cfg = validate_config({"name": f"scaling-{n}", "task": "popularity", "dataset": {"path": str(manifest)},
                           "stages": {"summarize": {}, "embed": {}, "retrieve_similar": {"k": k}},
                           "run": {"batch_size": 64}})
    result = Runner(cfg, runs_dir=tmp / "runs", cache_dir=tmp / "cache", show_progress=False).run()
    assert result.exit_code == 0, result.summary_line()
    return {name: s.seconds for name, s in result.stages.items()}, result.run_dir


def per_query_seconds(run_dir: Path, k: int) -> float:
    """The same retrieval one query per FAISS call, on the run's own embeddings."""
    from pipelines.records import EmbeddingRecord, Item
    from pipelines.stages.registry import Corpus
    from pipelines.stages.retrieve_similar import RetrieveSimilarConfig, build_index, search_many
    from pipelines.store import RunStore

    store = RunStore(run_dir)
    items = {i["item_id"]: Item.model_validate(i) for i in store.items() or []}
    embeds = {r.item_id: r for r in store.current_records("embed") if isinstance(r, EmbeddingRecord)}
    corpus = Corpus(items=items, records={"embed": embeds}, hash="bench")
    index = build_index(corpus, RetrieveSimilarConfig(task="popularity", k=k))
    started = time.perf_counter()
    for item_id, record in embeds.items():
        search_many(index, [(item_id, record)], k)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs=2, default=[2000, 20000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--k", type=int, default=10, help="neighbours per item (the paper: 10)")
    parser.add_argument("--per-query", action="store_true", help="also time one FAISS call per query (largest size)")
    args = parser.parse_args()

    small, large = args.sizes
    seconds = {}
    for n in (small, large):
        seconds[n], run_dir = run_size(n, args.k)
        print(f"{n:>6} items: " + ", ".join(f"{s} {t:.2f} s" for s, t in seconds[n].items()), flush=True)
    print(f"\nper-stage seconds (the stage's whole time: planning, computing, writing), {large // small}x the items:")
    print(f"{'stage':<18}{small:>10}{large:>10}{'ratio':>8}")
    for stage in seconds[small]:
        a, b = seconds[small][stage], seconds[large][stage]
        print(f"{stage:<18}{a:>10.2f}{b:>10.2f}{b / a if a else float('nan'):>8.1f}")
    if args.per_query:
        one = per_query_seconds(run_dir, args.k)
        batched = seconds[large]["retrieve_similar"]
        print(f"\nretrieve_similar at {large} items: one query a call {one:.2f} s (search only) vs batched stage "
              f"{batched:.2f} s -> {one / batched:.1f}x")


if __name__ == "__main__":
    main()
