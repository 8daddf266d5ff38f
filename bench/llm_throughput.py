"""Benchmark: the local LLM runtimes on the same bundled weights, prompt and decode apart.

For each model (default: the bundled Qwen2.5-Coder 0.5B and 1.5B, both from their shipped
GGUF) and each runtime:

* ``onnx`` — onnxruntime-genai, the int4 ONNX build of the GGUF (``make setup`` makes it);
  prefill and decode timed by the backend itself (``prefill_seconds`` / ``decode_seconds``);
* ``llama.cpp`` — llama-cpp-python on the GGUF as shipped (the ``make llamacpp`` extra; the
  column is skipped when it is not built);
* ``transformers bf16`` — the ``local`` backend in bfloat16 (the demo's setting before).

it prints prompt tokens/s (prefill), decode tokens/s unconstrained and with the predict
answer's JSON schema, and seconds per m2t predict call (the constrained answer, as the
pipeline pays it). llama.cpp and transformers report no split, so their prefill is timed
as a call with ``max_tokens=1`` and their decode rate is ``(n - 1) / (t_n - t_1)`` over the
full call's ``n`` tokens. Then, for onnx, batch-N vs batch-1: N different predict prompts
(different videos, each cut to the same length in tokens: the bundled builds' pruned head
reads the batch's last position only, so a padded row would be read at a pad) answered
greedily one by one and in one batch, total decode tokens/s of
each and whether every batched answer equals its lone twin (m2t's rule: an answer never
depends on its batch-mates). Last, the ratios the onnx backend is held to: its constrained
decode >= 0.5 x llama.cpp's and >= 3 x transformers bf16's.

The prompt is the pipeline's own ``popularity/predict_hypotheses`` prompt for the Big Buck
Bunny summary in the README's shape, with two hypotheses; threads = the cores this process
may use (``--threads``). Medians of ``--repeat`` runs after one warm-up. Figures move with
other load on the machine: the load average is printed first.

    .venv/bin/python bench/llm_throughput.py [--models qwen2.5-0.5b-instruct qwen2.5-1.5b-instruct]
        [--runtimes onnx llamacpp transformers] [--repeat 3] [--batch 2 4]

Exits 1 when a ratio misses its target (both runtimes measured).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
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
# more videos for the batches: other topics (cut to one length in tokens: `same_length`)
MORE_VIDEOS = [
    "Title: Rocket launch countdown\n\nSpeech:\n[00:00.0-00:04.0] Ten, nine, eight, seven ... lift off.\n\n"
    "Frames:\n[00:01.0] A white rocket on a launch pad; clear blue sky.",
    "Title: My town's bakery\n\nSpeech:\n[00:00.0-00:09.0] Today I visit the bakery on our main street; the baker "
    "shows how she kneads the dough and bakes bread every morning at five.\n\nOn-screen text: OPEN 6-14. "
    "Frames:\n[00:02.0] A woman in an apron; loaves on wooden shelves; warm light.\n[00:06.0] Close-up of dough.",
    "Title: Street food tour\n\nSpeech:\n[00:00.0-00:06.0] We try five dishes in one night market, from "
    "grilled squid to mango sticky rice.\n\nFrames:\n[00:01.0] Crowded stalls at night, neon signs.\n"
    "[00:04.0] A plate of grilled squid. [00:05.5] Two people laughing at a table.",
]
HYPOTHESES = [
    {"number": 1, "text": "Videos that show animated animals in bright outdoor scenes", "favours": "global-big-hit"},
    {"number": 2, "text": "Videos with a single person speaking about a local event", "favours": "local-hit"},
]


@dataclass
class Figures:
    """One runtime's medians on one model."""

    load_s: float = 0.0
    prompt_tokens: int = 0
    prefill_tps: float = 0.0
    decode_tps: dict[str, float] = field(default_factory=dict)  # unconstrained / constrained
    call_s: float = 0.0  # one constrained predict call, wall time
    answer_tokens: int = 0


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct"],
                        help="bundled names with a GGUF twin and an ONNX build")
    parser.add_argument("--runtimes", nargs="+", default=["onnx", "llamacpp", "transformers"])
    parser.add_argument("--max-tokens", type=int, default=200, help="the demo's predict budget")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--batch-tokens", type=int, default=80, help="greedy tokens per answer in the batch test")
    parser.add_argument("--threads", type=int, default=None, help="default: the cores this process may use")
    args = parser.parse_args()
    threads = args.threads or len(os.sched_getaffinity(0))

    from pipelines.models.llm import to_langchain
    from pipelines.prompts import load_prompt
    from pipelines.stages.predict import answer_schema
    from pipelines.tasks import get_task

    task = get_task("popularity")
    prompt = load_prompt("popularity/predict_hypotheses")

    def messages(video: str) -> list[Any]:
        return to_langchain(prompt.messages(video_text=video, labels=task.label_descriptions, hypotheses=HYPOTHESES))

    schema = answer_schema(task, len(HYPOTHESES))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {threads} threads; "
          f"max_tokens {args.max_tokens}; medians of {args.repeat}")
    failed = False
    for name in args.models:
        figures: dict[str, Figures] = {}
        for runtime in args.runtimes:
            measure = {"onnx": measure_onnx, "llamacpp": measure_llamacpp, "transformers": measure_transformers}[runtime]
            result = measure(name, messages(VIDEO), schema, args, threads)
            gc.collect()
            if result is None:
                continue
            figures[runtime] = result
            print(f"{name:22s} {LABELS[runtime]:18s} load {result.load_s:5.1f} s  prompt {result.prompt_tokens} tok "
                  f"{result.prefill_tps:6.1f} tok/s  decode {result.decode_tps['unconstrained']:5.1f} tok/s, "
                  f"constrained {result.decode_tps['constrained']:5.1f} tok/s  predict call {result.call_s:5.1f} s "
                  f"({result.answer_tokens} tokens)", flush=True)
        if "onnx" in args.runtimes:
            batches(name, messages, [VIDEO, *MORE_VIDEOS], args, threads)
        failed |= ratios(name, figures)
    return 1 if failed else 0


LABELS = {"onnx": "onnx int4", "llamacpp": "llama.cpp (GGUF)", "transformers": "transformers bf16"}


def timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    reply = call()
    return reply, time.perf_counter() - started


def measure_onnx(name: str, messages: Any, schema: dict[str, Any], args: argparse.Namespace,
                 threads: int) -> Figures:
    from pipelines.models.llm_ortgenai import load_ortgenai_chat

    chat, load_s = timed(lambda: load_ortgenai_chat(f"bundled:{name}", max_tokens=args.max_tokens, threads=threads))
    out = Figures(load_s=load_s)
    prefill, calls = [], []
    for kind, extra in (("unconstrained", {}), ("constrained", {"json_schema": schema})):
        chat.invoke(messages, **extra)  # warm-up (and grammar compilation)
        rates = []
        for _ in range(args.repeat):
            chat.forget_prefixes()  # the whole prompt read, as the other runtimes read it
            reply, seconds = timed(lambda: chat.invoke(messages, **extra))
            meta, usage = reply.response_metadata, reply.usage_metadata
            prefill.append(usage["input_tokens"] / meta["prefill_seconds"])
            rates.append(usage["output_tokens"] / meta["decode_seconds"])
            out.prompt_tokens = usage["input_tokens"]
            if kind == "constrained":
                calls.append(seconds)
                out.answer_tokens = usage["output_tokens"]
        out.decode_tps[kind] = median(rates)
    out.prefill_tps, out.call_s = median(prefill), median(calls)
    kept = [timed(lambda: chat.invoke(messages, json_schema=schema)) for _ in range(args.repeat)]
    reused = kept[0][0].response_metadata["reused_prefix_tokens"]
    print(f"{name:22s} onnx, the system prompt kept ({reused} of {out.prompt_tokens} prompt tokens): predict call "
          f"{median(s for _, s in kept):5.1f} s vs {out.call_s:5.1f} s read whole", flush=True)
    return out


def two_call_figures(chat: Any, messages: Any, schema: dict[str, Any], args: argparse.Namespace,
                     load_s: float) -> Figures:
    """Prefill and decode rates of a runtime that reports no split (see the module docstring)."""
    out = Figures(load_s=load_s)
    prefill, calls = [], []
    for kind, extra in (("unconstrained", {}), ("constrained", {"json_schema": schema})):
        chat.invoke(messages, **extra)  # warm-up (and grammar compilation)
        rates = []
        for _ in range(args.repeat):
            first, first_s = timed(lambda: chat.invoke(messages, max_tokens=1, **extra))
            reply, seconds = timed(lambda: chat.invoke(messages, **extra))
            n = reply.usage_metadata["output_tokens"]
            out.prompt_tokens = reply.usage_metadata["input_tokens"]
            prefill.append(out.prompt_tokens / first_s)
            rates.append((n - 1) / max(seconds - first_s, 1e-6))
            if kind == "constrained":
                calls.append(seconds)
                out.answer_tokens = n
        out.decode_tps[kind] = median(rates)
    out.prefill_tps, out.call_s = median(prefill), median(calls)
    return out


def measure_llamacpp(name: str, messages: Any, schema: dict[str, Any], args: argparse.Namespace,
                     threads: int) -> Figures | None:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print(f"{name:22s} {LABELS['llamacpp']:18s} not built (make llamacpp): column skipped")
        return None
    from pipelines.models.llm_llamacpp import LlamaCppChatModel

    # n_threads: llama-cpp-python decodes on half the cores by default; the same threads as the others
    chat, load_s = timed(lambda: LlamaCppChatModel(model_path=f"bundled:{name}-gguf", n_threads=threads,
                                                   max_tokens=args.max_tokens).load())
    return two_call_figures(chat, messages, schema, args, load_s)


def measure_transformers(name: str, messages: Any, schema: dict[str, Any], args: argparse.Namespace,
                         threads: int) -> Figures:
    import torch

    from pipelines.models.llm_local import load_local_chat

    torch.set_num_threads(threads)
    chat, load_s = timed(lambda: load_local_chat(f"bundled:{name}", dtype="bfloat16", max_tokens=args.max_tokens))
    return two_call_figures(chat, messages, schema, args, load_s)


def same_length(chat: Any, messages: Any, videos: list[str]) -> list[Any]:
    """The prompts of ``videos``, each video's text cut word by word from its end (or filled
    with " ." at the end) until its prompt is as long in tokens as the shortest prompt."""
    def length(video: str) -> int:
        return len(chat._prompt_ids(messages(video)))

    target = min(length(v) for v in videos)
    out = []
    for video in videos:
        words = video.split(" ")
        while length(" ".join(words)) > target and len(words) > 1:
            words.pop()
        text = " ".join(words)
        for _ in range(target):
            if length(text) >= target:
                break
            text += " ."
        if length(text) != target:
            raise SystemExit(f"cannot cut a video text to {target} prompt tokens: {video[:40]!r}")
        out.append(messages(text))
    return out


def batches(name: str, messages: Any, videos: list[str], args: argparse.Namespace, threads: int) -> None:
    """onnx batch-N vs batch-1 on N different prompts: decode tokens/s in total, prefill tokens/s,
    wall seconds, and whether each batched answer equals the same prompt's answer alone.

    The batch is the runtime's own (``run_batch``: each prompt read whole in one chunk); m2t
    answers one by one (``invoke``: one chunk per message; kept prefixes forgotten here
    before each, so both read every token) because batched answers need not equal those."""
    from pipelines.models.llm_ortgenai import load_ortgenai_chat

    chat = load_ortgenai_chat(f"bundled:{name}", max_tokens=args.batch_tokens, threads=threads)
    prompts = same_length(chat, messages, videos)
    chat.invoke(prompts[0])  # warm-up
    alone = []
    for p in prompts[: max(args.batch)]:
        chat.forget_prefixes()  # read whole, as the batch reads it
        reply, seconds = timed(lambda: chat.invoke(p))
        alone.append((reply, seconds))
    for n in args.batch:
        lone = alone[:n]
        lone_tokens = sum(r.usage_metadata["output_tokens"] for r, _ in lone)
        lone_decode = lone_tokens / sum(r.response_metadata["decode_seconds"] for r, _ in lone)
        lone_prefill = (sum(r.usage_metadata["input_tokens"] for r, _ in lone)
                        / sum(r.response_metadata["prefill_seconds"] for r, _ in lone))
        batch, seconds = timed(lambda: chat.run_batch(prompts[:n]))
        meta = batch[0].response_metadata
        tokens = sum(b.usage_metadata["output_tokens"] for b in batch)
        same = sum(b.content == r.content for b, (r, _) in zip(batch, lone))
        print(f"{name:22s} onnx batch-{n} vs batch-1 ({n} prompts of "
              f"{'/'.join(str(r.usage_metadata['input_tokens']) for r, _ in lone)} tokens, greedy, "
              f"up to {args.batch_tokens} new): decode {tokens / meta['decode_seconds']:5.1f} vs {lone_decode:5.1f} tok/s "
              f"(x{tokens / meta['decode_seconds'] / lone_decode:.2f}), prefill "
              f"{sum(b.usage_metadata['input_tokens'] for b in batch) / meta['prefill_seconds']:5.1f} vs "
              f"{lone_prefill:5.1f} tok/s, wall {seconds:5.1f} vs {sum(s for _, s in lone):5.1f} s; "
              f"answers equal to alone: {same}/{n}", flush=True)


def ratios(name: str, figures: dict[str, Figures]) -> bool:
    """Prints the onnx backend's constrained decode against the others; True when one misses its target."""
    if "onnx" not in figures:
        return False
    onnx = figures["onnx"].decode_tps["constrained"]
    missed = False
    for runtime, target in (("llamacpp", 0.5), ("transformers", 3.0)):
        if runtime not in figures:
            continue
        ratio = onnx / figures[runtime].decode_tps["constrained"]
        ok = ratio >= target
        missed |= not ok
        call = figures[runtime].call_s / figures["onnx"].call_s
        print(f"{name:22s} onnx / {LABELS[runtime]}: constrained decode x{ratio:.2f} (target >= {target}: "
              f"{'met' if ok else 'MISSED'}); predict call {call:.2f}x faster", flush=True)
    return missed


if __name__ == "__main__":
    sys.exit(main())
