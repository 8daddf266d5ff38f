"""Benchmark: scoring the labels vs generating a JSON answer with the local chat model.

Builds a realistic popularity-prediction prompt (a video's text description plus the answer
instructions, ~300-500 tokens), then times, with the bundled SmolLM2-135M-Instruct on CPU:

* generation: the free JSON answer, greedy, ``max_tokens=128``;
* scoring: ``score_continuations`` of the two labels (one batched forward pass).

Each is run once to warm up and then ``--repeat`` times; prints the medians, generation
throughput and the ratio generation / scoring. Loading through ``load_chat_model`` is timed
too (torch and transformers are imported first, so their import is not counted).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/label_scoring.py [--repeat 3] [--json out.json]

Exits 1 when scoring is less than ``--min-ratio`` (default 5) times faster than generation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

VIDEO = """\
Title: We cooked a 12-hour Texas brisket in a backyard smoker (first try!)
Channel: Smoke & Sons BBQ (41K subscribers), uploaded in the United States
Duration: 14 min 32 s. Language: English.
Transcript (start): "Alright guys, it is four in the morning and the smoker is already rolling. Today
we're doing a full packer brisket, about fifteen pounds, just salt and pepper, nothing fancy. My
dad swears by post oak so that's what we're burning. We trimmed the fat cap down to about a
quarter inch last night..."
Frames: a man in an apron lighting an offset smoker before dawn; close-up of a raw brisket with
coarse pepper rub; a digital thermometer reading 203 F; the family slicing the brisket on a
wooden board; a dog watching from the porch; the finished bark glistening under string lights.
On-screen text: "HOUR 9 - THE STALL", "203 F", "SUBSCRIBE FOR PART 2".
Audio: acoustic guitar music, crackling fire, people laughing.
Visual style: warm colour grading, handheld camera, natural light, few cuts per minute."""


def build_messages() -> list[tuple[str, str]]:
    """A system + user conversation asking for the popularity label as JSON."""
    from pipelines.tasks.popularity import POPULARITY

    classes = "\n".join(f'- "{label}": {POPULARITY.label_descriptions[label]}' for label in POPULARITY.labels)
    system = ("You are an analyst who predicts how popular an online video will become from a text description "
              "of its content. You answer only with JSON.")
    user = (
        "Here is the description of a video, produced automatically from its frames, audio and "
        f"on-screen text:\n\n<video>\n{VIDEO}\n</video>\n\n"
        f"Predict which popularity class the video belongs to:\n{classes}\n\n"
        "Consider the topic's broad appeal, the production quality, the language, and whether the content "
        "would travel across countries.\n"
        'Answer with one JSON object and nothing else: {"label": "local-hit" | "global-big-hit", '
        '"confidence": a number between 0 and 1, "explanation": one or two sentences}.'
    )
    return [("system", system), ("user", user)]


def timed(fn, repeat: int) -> tuple[float, list[float], object]:
    """Median seconds of ``repeat`` calls after one warm-up call, all times, and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundled:smollm2-135m-instruct")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--min-ratio", type=float, default=5.0)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    import torch  # noqa: F401  (imported before the clock starts: only the load is timed)
    import transformers  # noqa: F401

    from pipelines.models.llm import LLMConfig, load_chat_model, to_langchain
    from pipelines.tasks.popularity import POPULARITY

    started = time.perf_counter()
    chat = load_chat_model(LLMConfig(backend="local", model=args.model, max_tokens=128, temperature=0.0))
    load_s = time.perf_counter() - started

    messages = to_langchain(build_messages())
    labels = list(POPULARITY.labels)
    gen_s, gen_times, reply = timed(lambda: chat.invoke(messages), args.repeat)
    score_s, score_times, scores = timed(lambda: chat.score_continuations(messages, labels), args.repeat)

    usage = reply.usage_metadata
    result = {
        "model": args.model,
        "threads": torch.get_num_threads(),
        "load_s": round(load_s, 3),
        "prompt_tokens": usage["input_tokens"],
        "generated_tokens": usage["output_tokens"],
        "finish_reason": reply.response_metadata.get("finish_reason"),
        "generation_median_s": round(gen_s, 3),
        "generation_times_s": [round(t, 3) for t in gen_times],
        "generation_tokens_per_s": round(usage["output_tokens"] / gen_s, 1),
        "scoring_median_s": round(score_s, 4),
        "scoring_times_s": [round(t, 4) for t in score_times],
        "label_scores": {label: round(s, 3) for label, s in zip(labels, scores)},
        "ratio": round(gen_s / score_s, 1),
    }
    print(f"model: {args.model} on CPU ({result['threads']} threads), loaded in {load_s:.2f} s")
    print(f"prompt: {result['prompt_tokens']} tokens; answer: {result['generated_tokens']} tokens "
          f"(finish: {result['finish_reason']})")
    print(f"answer: {reply.content!r}")
    print(f"generation (greedy, max 128 tokens): median {gen_s:7.3f} s  {result['generation_times_s']}  "
          f"= {result['generation_tokens_per_s']} tokens/s")
    print(f"scoring {len(labels)} labels (1 forward pass): median {score_s:7.4f} s  {result['scoring_times_s']}")
    print(f"label log-likelihoods: {result['label_scores']}")
    print(f"ratio generation / scoring: {result['ratio']:.1f}x (required >= {args.min_ratio:g}x)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if gen_s / score_s < args.min_ratio:
        print("FAIL: scoring is not fast enough compared to generation")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
