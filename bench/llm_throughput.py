"""Benchmark: tokens per second of the local LLM backend: unconstrained vs grammar-constrained,
and llama.cpp on the same GGUF when that extra is built (``batch_invariance.py`` compares
answers generated alone with the padded batches used before).

The prompt is the pipeline's own ``popularity/predict_hypotheses`` prompt for a sample video
(the Big Buck Bunny summary shipped in the README's shape) with two hypotheses. For each dtype
given (default: the demo's bfloat16, and float32) the bundled model answers greedily, once to
warm up, then ``--repeat`` times; it prints the median new tokens per second (prefill
included, as the pipeline pays it) without and with the answer's JSON schema (xgrammar), and
their ratio; then llama.cpp (``make llamacpp``) on the GGUF
the bundled model was converted from, the same constrained prompt. Exits 1 when constrained /
unconstrained is below ``--min-ratio`` (0.85).

    .venv/bin/python bench/llm_throughput.py [--model bundled:qwen2.5-0.5b-instruct] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

VIDEO = """\
Title: Big Buck Bunny

Description: A big rabbit wakes up in a green meadow.

Visual facts: 1 shot. Motion: moderate. Lighting: mid-key (mean luminance 0.45); dominant colour green; warm colour temperature. No faces in the 8 sampled frames.

Frames:
[00:00.3-00:02.3] Frame without faces; looks like hare, wood rabbit; mid-key lighting, dominant colour green, warm tones.
[00:03.0-00:05.0] Frame without faces; looks like hare; high-key lighting, dominant colour green, warm tones.

Speech:
[00:00.0-00:05.3] Mmm."""
HYPOTHESES = [
    {"number": 1, "text": "Videos that show animated animals in bright outdoor scenes", "favours": "global-big-hit"},
    {"number": 2, "text": "Videos with a single person speaking about a local event", "favours": "local-hit"},
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundled:qwen2.5-0.5b-instruct")
    parser.add_argument("--dtypes", nargs="+", default=["bfloat16", "float32"])
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--min-ratio", type=float, default=0.85)
    parser.add_argument("--gguf", default=None, help="GGUF for the llama.cpp column (default: the model's "
                                                     "bundled -gguf twin)")
    args = parser.parse_args()

    from pipelines.models.llm import to_langchain
    from pipelines.models.llm_local import load_local_chat
    from pipelines.prompts import load_prompt
    from pipelines.stages.predict import answer_schema
    from pipelines.tasks import get_task

    task = get_task("popularity")
    messages = to_langchain(load_prompt("popularity/predict_hypotheses").messages(
        video_text=VIDEO, labels=task.label_descriptions, hypotheses=HYPOTHESES))
    schema = answer_schema(task, len(HYPOTHESES))
    worst = float("inf")
    first_rate = None
    for dtype in args.dtypes:
        chat = load_local_chat(args.model, dtype=dtype, max_tokens=args.max_tokens)
        rates = {}
        for name, extra in (("unconstrained", {}), ("constrained", {"json_schema": schema})):
            chat.invoke(messages, **extra)  # warm-up (and grammar compilation)
            samples = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                reply = chat.invoke(messages, **extra)
                samples.append(reply.usage_metadata["output_tokens"] / (time.perf_counter() - started))
            rates[name] = statistics.median(samples)
        first_rate = first_rate or rates["constrained"]
        ratio = rates["constrained"] / rates["unconstrained"]
        worst = min(worst, ratio)
        print(f"{args.model} {dtype:9s} unconstrained {rates['unconstrained']:5.1f} tok/s  "
              f"constrained {rates['constrained']:5.1f} tok/s  ratio {ratio:.2f}")
    llamacpp(args, messages, schema, rates_default=first_rate)
    if worst < args.min_ratio:
        print(f"constrained / unconstrained {worst:.2f} < {args.min_ratio}")
        return 1
    return 0


def llamacpp(args: argparse.Namespace, messages: Any, schema: dict[str, Any], rates_default: float | None) -> None:
    """The same constrained prompt on llama.cpp (the ``llamacpp`` extra), if it is built."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print("llama.cpp: not built (make llamacpp), column skipped")
        return
    from pipelines.models.llm_llamacpp import load_llamacpp_chat

    chat = load_llamacpp_chat(args.gguf or f"{args.model}-gguf", max_tokens=args.max_tokens)
    chat.invoke(messages, json_schema=schema)
    samples = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        reply = chat.invoke(messages, json_schema=schema)
        samples.append(reply.usage_metadata["output_tokens"] / (time.perf_counter() - started))
    rate = statistics.median(samples)
    ratio = f"  default ({args.dtypes[0]}) / llama.cpp {rates_default / rate:.2f}" if rates_default else ""
    print(f"llama.cpp {args.gguf or args.model + '-gguf'} constrained {rate:5.1f} tok/s{ratio}")


if __name__ == "__main__":
    sys.exit(main())
