"""Benchmark: choosing the label by scoring vs by free generation, with the local chat model.

The prompt is the pipeline's own ``popularity/predict_hypotheses`` prompt for a realistic
video text and three hypotheses (~600 tokens). With the bundled SmolLM2-135M-Instruct on CPU
it times, each once to warm up and then ``--repeat`` times (medians):

* **generation** — the free answer as ``predict`` asks for it (greedy, ``max_tokens=160``);
* **scoring** — ``score_continuations`` of the two labels (one prefill of the prompt, then the
  label tokens); run again right after a generation from the same prompt, it must give the
  same scores bit for bit (no state is kept from an earlier call: a score must not depend on
  the call before).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/label_scoring.py [--repeat 3]

The ratio is printed. Exits 1 when scoring is not at least ``--min-ratio`` (3) times faster than
generation, or when the scores after a generation differ from the first ones.
"""

from __future__ import annotations

import argparse
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

HYPOTHESES = [
    {"number": 1, "text": "Videos in English about widely shared pastimes reach audiences in many countries."},
    {"number": 2, "text": "Small channels with a local or family focus tend to stay local hits."},
    {"number": 3, "text": "Polished production and a famous creator make global big hits more likely."},
]


def timed(fn, repeat: int) -> tuple[float, object]:  # noqa: ANN001
    fn()
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> int:
    from pipelines.models.llm import LLMConfig, load_chat_model, to_langchain
    from pipelines.prompts import load_prompt
    from pipelines.tasks import get_task

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--min-ratio", type=float, default=3.0)
    args = parser.parse_args()

    task = get_task("popularity")
    messages = to_langchain(load_prompt("popularity/predict_hypotheses").messages(
        video_text=VIDEO, labels=task.label_descriptions, hypotheses=HYPOTHESES))
    labels = [f'{{"label": "{label}"' for label in task.labels]
    chat = load_chat_model(LLMConfig(max_tokens=160))
    prompt_tokens = len(chat._prompt_ids(messages)[1])

    generation, reply = timed(lambda: chat.invoke(messages), args.repeat)
    scoring_s, scores = timed(lambda: chat.score_continuations(messages, labels), args.repeat)
    chat.invoke(messages)  # the failed answer the pipeline would have just generated
    again = chat.score_continuations(messages, labels)

    answer_tokens = reply.usage_metadata["output_tokens"]  # type: ignore[union-attr]
    print(f"prompt: {prompt_tokens} tokens (popularity/predict_hypotheses); answer: {answer_tokens} tokens")
    print(f"answer: {reply.content[:120]!r}")  # type: ignore[union-attr]
    print(f"generation (greedy, max 160 tokens):        {generation:7.3f} s")
    print(f"label scoring:                              {scoring_s:7.3f} s   ratio {generation / scoring_s:5.1f}x")
    print(f"scores: {dict(zip(task.labels, (round(s, 3) for s in scores)))}")
    ok = True
    if again != scores:
        print("FAIL: the scores after a generation differ from the first ones")
        ok = False
    if generation / scoring_s < args.min_ratio:
        print(f"FAIL: scoring is less than {args.min_ratio}x faster than generation")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
