"""Benchmark: what batch invariance costs (one cache key, one answer).

A record must not depend on the items batched with it, so m2t runs each text, frame and
prompt through its model alone (``pipelines/models/embedder.py``, ``llm_local.py``). This
prints the price against the padded batches used before, and shows why:

* **embeddings** — ``--texts`` (1,000) texts of real summary length (60–400 words of English
  prose from this repository's own docs, a fixed seed) with the bundled all-MiniLM-L6-v2:
  texts/s in padded batches of 32 (before) vs one text per forward pass (now), their ratio, how
  many vectors a batch of 32 vs 7 leaves bit-identical (before), and that the one-at-a-time
  vectors are bit-identical in reversed order (now);
* **LLM** — ``--answers`` (4) constrained predict answers of the bundled Qwen2.5-0.5B (bfloat16,
  the demo's settings) to different videos: seconds per answer in one left-padded batch
  (before) vs one at a time (now), and how many padded answers equal the lone ones.

    .venv/bin/python bench/batch_invariance.py [--texts 1000] [--answers 4] [--skip-llm]

Exits 1 when the invariant embedding path is more than ``--max-ratio`` (2.0) times slower, or
when it is not bit-identical in reversed order.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def real_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` texts of 60-400 words of English prose (this repository's READMEs, shuffled)."""
    words = re.findall(r"[A-Za-z][A-Za-z'-]*[.,]?", " ".join(p.read_text() for p in ROOT.glob("**/README.md")
                                                            if ".venv" not in p.parts))
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        start = rng.randrange(0, len(words) - 400)
        texts.append(" ".join(words[start:start + rng.randint(60, 400)]))
    return texts


def embeddings(args: argparse.Namespace) -> bool:
    import numpy as np

    from pipelines.models.embedder import TextEmbedder

    texts = real_texts(args.texts)
    embedder = TextEmbedder("bundled:all-minilm-l6-v2")
    encode = embedder.model.encode
    encode(texts[:64], batch_size=32, show_progress_bar=False)  # warm-up

    started = time.perf_counter()
    batched = encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    batched_s = time.perf_counter() - started
    started = time.perf_counter()
    alone = embedder.embed(texts)
    alone_s = time.perf_counter() - started

    sevens = encode(texts, batch_size=7, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    reversed_alone = embedder.embed(texts[::-1])[::-1]
    same_batched = int(np.all(batched == sevens, axis=1).sum())
    invariant = bool(np.array_equal(alone, reversed_alone))
    ratio = alone_s / batched_s
    print(f"embeddings of {len(texts)} texts (60-400 words, all-MiniLM-L6-v2, {os.cpu_count()} cores):")
    print(f"  padded batches of 32 (before): {len(texts) / batched_s:6.1f} texts/s")
    print(f"  one text per pass (now):       {len(texts) / alone_s:6.1f} texts/s   {ratio:.2f}x the time")
    print(f"  vectors bit-identical, batch 32 vs batch 7 (before): {same_batched}/{len(texts)}")
    print(f"  vectors bit-identical, one per pass in reversed order (now): {'yes' if invariant else 'NO'}")
    ok = invariant and ratio <= args.max_ratio
    if ratio > args.max_ratio:
        print(f"FAIL: the invariant path takes more than {args.max_ratio}x the batched time")
    return ok


def padded_batch(chat: Any, conversations: list[Any], schema: dict[str, Any], max_tokens: int) -> list[str]:
    """The former batched path, for comparison only: prompts left-padded into one ``generate``
    call, each row constrained by its own xgrammar matcher."""
    import torch
    from xgrammar.contrib.hf import LogitsProcessor

    model, tokenizer = chat._loaded()
    prompts = [chat._prompt_ids(list(c))[1] for c in conversations]
    width = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = torch.tensor(prompt)
        mask[row, width - len(prompt):] = 1
    grammar = chat._grammar_processor(schema).compiled_grammars[0]
    with torch.inference_mode():
        output = model.generate(ids, attention_mask=mask, max_new_tokens=max_tokens, pad_token_id=pad,
                                do_sample=False, num_beams=1,
                                logits_processor=[LogitsProcessor([grammar] * len(prompts))])
    eos = {tokenizer.eos_token_id, *([model.generation_config.eos_token_id]
                                    if isinstance(model.generation_config.eos_token_id, int)
                                    else model.generation_config.eos_token_id or [])}
    texts = []
    for row in output[:, width:].tolist():
        end = next((i for i, token in enumerate(row) if token in eos), len(row))
        texts.append(tokenizer.decode(row[:end], skip_special_tokens=True))
    return texts


def llm(args: argparse.Namespace) -> None:
    from llm_throughput import HYPOTHESES, VIDEO

    from pipelines.models.llm import to_langchain
    from pipelines.models.llm_local import load_local_chat
    from pipelines.prompts import load_prompt
    from pipelines.stages.predict import answer_schema
    from pipelines.tasks import get_task

    task = get_task("popularity")
    prompt = load_prompt("popularity/predict_hypotheses")
    schema = answer_schema(task, len(HYPOTHESES))
    titles = ["Big Buck Bunny", "Countdown to lift off", "Grandfather's coin collection", "Every dot is a galaxy",
              "How I make espresso at home", "A cat on the sofa", "Silent horse sketch", "Read the colour"]
    conversations = [to_langchain(prompt.messages(video_text=VIDEO.replace("Big Buck Bunny", titles[i % len(titles)]),
                                                  labels=task.label_descriptions, hypotheses=HYPOTHESES))
                     for i in range(args.answers)]
    chat = load_local_chat("bundled:qwen2.5-0.5b-instruct", dtype="bfloat16", max_tokens=args.max_tokens)
    chat.invoke(conversations[0], json_schema=schema, max_tokens=8)  # warm-up (and grammar compilation)
    started = time.perf_counter()
    together = padded_batch(chat, conversations, schema, args.max_tokens)
    batch_s = time.perf_counter() - started
    started = time.perf_counter()
    alone = [str(chat.invoke(c, json_schema=schema).content) for c in conversations]
    alone_s = time.perf_counter() - started
    n = len(conversations)
    same = sum(a == b for a, b in zip(alone, together))
    print(f"LLM: {n} constrained predict answers (Qwen2.5-0.5B bfloat16, max {args.max_tokens} tokens):")
    print(f"  one padded batch of {n} (before): {batch_s / n:5.2f} s per answer")
    print(f"  one at a time (now):            {alone_s / n:5.2f} s per answer   {alone_s / batch_s:.2f}x the time")
    print(f"  padded answers equal to the lone ones: {same}/{n}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--answers", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--max-ratio", type=float, default=2.0)
    parser.add_argument("--skip-llm", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    ok = embeddings(args)
    if not args.skip_llm:
        llm(args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
