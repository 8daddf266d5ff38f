"""What a run will cost, before it runs: items to compute per stage, wall time (a range), LLM tokens.

A stage's work is the items it has to compute (``to_compute``) plus the items whose upstream
records do not exist yet (``unknown``: their cache keys cannot be known, so they are counted
as to compute — an upper bound, the cache may still hold them).

**Stages without an LLM** cost items × seconds per item. Seconds per item are measured on
this machine by earlier runs (``<cache dir>/throughput.json``, keyed by stage and model; a
running mean over the items seen, model loading included), else :data:`DEFAULT_MS_PER_ITEM`:
the demo configs' stages measured on this 2-core CPU with the bundled models (popularity and
film runs of 2026-12-05, from empty caches; their CPU contention was not measured, so they may
be a little high for a quiet machine). A clip's cost
depends on its length and content (the 10-s film clips cost three times the 5-s samples in
``measure_visuals``), so the range of a default is :data:`DEFAULT_ITEM_SPREAD` around it.

**Stages with an LLM** (an ``llm`` block) are estimated from what the model does, since
seconds per item hide everything that matters (a 0.5B model on this CPU reads a prompt at
~700 tokens/s but writes ~10 tokens/s, so a 300-token answer costs 30 s, its 1,000-token
prompt 1.4 s). Per call::

    seconds = call overhead + prompt tokens / prompt rate + output tokens / decode rate

and per stage: items × calls per item × seconds per call, plus loading the model once per
``llm`` block and process (the first stage using a block pays it; a bundled model's one-time
conversion too, while it has not happened: :func:`first_use_seconds`). Where each figure comes
from:

* **calls per item** — read from the stage's config and code (:func:`llm_work`):
  ``hypothesize`` asks ``n_hypotheses`` questions and asks the degenerate ones again once;
  ``predict`` one answer, and one repair when it cannot be read; ``audit_claims`` one split per
  audited generated text (plus judge calls when ``judge_types`` is set); ``analyse_film`` one
  exam per student; ``grade_analysis`` one grade per student;
* **prompt tokens** — the prompt file's own text plus the upstream text it embeds: the
  mean length of the video texts the run already holds (capped by the stage's budget), else
  a share of the budget (``text_tokens``, ``example_tokens``; ``pipelines/budget.py``). Tokens
  are counted with the tokenizer ``llm.tokenizer`` names, or a local model's own
  ``tokenizer.json`` when it is already on disk, else as characters / 4
  (:func:`prompt_counter`): a dry run never loads, converts or downloads a model, and never
  asks a server;
* **output tokens** — from the answer's JSON schema (its string bounds) and what the
  bundled model wrote in the demo, never more than ``llm.max_tokens``;
* **rates** — :data:`MODEL_SPEEDS` (measured here, ``/work/shared/MODELS.md``), else
  conservative defaults for an unknown model (:func:`model_speed`).

A run records what its LLM stages really did (``stats.json``'s ``llm_usage``: requests,
prompt and completion tokens; and the stage's wall time) into the same ``throughput.json``
(keyed by stage and model): calls per item, tokens per call and seconds per call (wall time,
the model's load taken out). The next estimate of that stage and model uses those instead
of the defaults (``rate_from``: "measured (N calls)").

Every estimate is a range (``seconds_low`` – ``seconds_high``) around a point (``seconds``):
defaults spread as the calls (repairs, judge calls), token counts and the machine's load
can (:data:`BUSY_FACTOR`: this CPU shared with another job decodes about half as fast);
learned rates by :data:`LEARNED_SPREAD`. All figures are for a quiet machine; the estimate
multiplies them by the CPU contention measured when it is made (:func:`cpu_contention`), and a
run divides what it measured by the contention around each stage before keeping it. The run's
stage table flags a stage whose measured
time is more than :data:`OVER_FACTOR` × its estimate (:func:`over_estimate`).

**Requests, tokens and cost** per stage and model (:class:`LLMRow`, ``StageEstimate.llm``):
the expected requests (repairs included), prompt and completion tokens, their ceiling, and,
when ``llm.prices`` is set, the cost. Items whose records the run or the record cache holds
send nothing; the LLM call cache is not looked up (its keys need the rendered prompts), so on a
warm cache the requests are an upper bound. A run keeps these rows at its start as
``stats.json``'s ``llm_estimate``, shaped like the measured ``llm_usage`` beside it
(:func:`usage_with_estimate` puts them on one line per stage and model). They are for sizing
a paid endpoint, not a bill.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from pipelines.files import atomic_write_json
from pipelines.records import utc_now

RATES_FILE = "throughput.json"

# Seconds per item, in ms, of the demo configs' stages on this 2-core CPU (popularity: 11
# clips of 4-8 s; film: 7 clips of 5-12 s; both from empty caches, model loading included,
# 2026-12-05, the lead engineer's runs). Where the two configs differ, the figure sits between
# them (the spread covers both).
DEFAULT_MS_PER_ITEM: dict[str, float] = {
    "extract_frames": 150, "read_onscreen_text": 3500, "measure_visuals": 8000, "detect_objects": 2200,
    "describe_frames": 2000, "transcribe_audio": 900, "describe_audio": 60, "summarize": 5, "embed": 600,
    "retrieve_similar": 30,
}
FALLBACK_MS = 2000.0  # a stage of unknown cost (no default, never measured)
DEFAULT_ITEM_SPREAD = (0.4, 2.5)  # low, high multipliers of a default seconds-per-item figure
LEARNED_SPREAD = (0.7, 1.5)  # low, high multipliers of a rate measured on this machine
BUSY_FACTOR = 2.0  # the high end of a default LLM rate: the cores shared with another job
OVER_FACTOR = 2.0  # a stage that took more than this times its estimate is flagged
DEFAULT_PROMPT_TOKENS = 1000  # an LLM stage without a text budget
CHARS_PER_TOKEN = 4  # English BPE tokens (pipelines/budget.py: estimate_tokens)
LEARNED_WEIGHT_CAP = 10_000  # items (calls) of weight kept by a running mean: newer runs show through

CONTENTION_ENV = "M2T_CPU_CONTENTION"  # a fixed contention instead of the probe (1: a quiet machine)


def cpu_contention(cpu_seconds: float = 0.1) -> float:
    """How many times slower CPU work runs now than on a quiet machine: the wall time a busy
    loop in this thread takes per second of CPU time it gets (1 when a core is free; about 5
    when ten runnable threads share 2 cores). ``$M2T_CPU_CONTENTION`` fixes it instead.

    Every figure of this module is for a quiet machine; the estimate is multiplied by the
    contention measured when it is made, and a run divides what it measures by the
    contention around each stage before keeping it, so that a run on a busy machine does not
    teach the next estimate a slow machine (and the other way round).
    """
    import os
    import time

    fixed = os.environ.get(CONTENTION_ENV)
    if fixed:
        try:
            return max(float(fixed), 1.0)
        except ValueError:
            pass
    wall, cpu = time.perf_counter(), time.thread_time()
    x = 0
    while time.thread_time() - cpu < cpu_seconds:
        for i in range(2000):
            x += i * i
    used = time.thread_time() - cpu
    return max((time.perf_counter() - wall) / used, 1.0) if used > 0 else 1.0


@dataclass(frozen=True)
class ModelSpeed:
    """How fast one LLM runs here.

    Attributes:
        prompt_tps: prompt tokens read per second (prefill).
        decode_tps: answer tokens written per second, under the answer's JSON schema.
        call_s: fixed cost per call (chat template, a new schema's grammar, Python).
        load_s: loading the weights once per ``llm`` block and process.
        source: where the figures come from.
    """

    prompt_tps: float
    decode_tps: float
    call_s: float
    load_s: float
    source: str


# (backend, model, dtype or None for any) -> speed. Measured on this machine (2 threads,
# transformers bfloat16 with AMX prefill, xgrammar constraint), /work/shared/MODELS.md and
# bench/estimate_accuracy.py. float32 has no AMX prefill and decodes a little slower.
MODEL_SPEEDS: dict[tuple[str, str, str | None], ModelSpeed] = {
    ("local", "bundled:qwen2.5-0.5b-instruct", "bfloat16"): ModelSpeed(
        700, 10.0, 1.0, 6.0, "Qwen2.5-0.5B bf16 on 2 cores: MODELS.md (prefill 700-780, decode 9.8-10.1 tok/s)"),
    ("local", "bundled:qwen2.5-0.5b-instruct", None): ModelSpeed(
        250, 8.0, 1.0, 8.0, "Qwen2.5-0.5B float32 on 2 cores: MODELS.md (8.5 tok/s without a prompt)"),
    ("local", "bundled:smollm2-135m-instruct", None): ModelSpeed(
        1000, 20.0, 0.5, 3.0, "SmolLM2-135M on 2 cores: MODELS.md (constrained 23.9 tok/s)"),
    ("onnx", "bundled:qwen2.5-0.5b-instruct", None): ModelSpeed(
        190, 40.0, 0.3, 1.5, "onnxruntime-genai int4, Qwen2.5-0.5B: MODELS.md (prefill 180-200, decode 40-42 tok/s)"),
    ("onnx", "bundled:qwen2.5-1.5b-instruct", None): ModelSpeed(
        77, 16.0, 0.5, 5.0, "onnxruntime-genai int4, Qwen2.5-1.5B: MODELS.md (prefill 75-79, decode 15.7-16.7 tok/s); "
                            "the demo's cold run: 5,882 prompt + 154 answer tokens in 86 s"),
    ("llamacpp", "bundled:qwen2.5-0.5b-instruct-gguf", None): ModelSpeed(
        100, 20.0, 0.5, 3.0, "llama.cpp, Qwen2.5-0.5B GGUF: MODELS.md (prefill 101-113, decode 20-25 tok/s)"),
    ("llamacpp", "bundled:smollm2-135m-instruct-gguf", None): ModelSpeed(
        300, 40.0, 0.3, 2.0, "llama.cpp, SmolLM2-135M GGUF (scaled from the 0.5B by size)"),
}
# An unknown local model: its size in billions of parameters from its name ("...-1.5B-...")
# scales the measured 0.5B bf16 figures (CPU decoding is bound by reading the weights); a
# name without a size is taken as a 1.5B model (MODELS.md: prefill 140-320, decode 3.0-5.6).
UNKNOWN_SIZE_B = 1.5
# A server (openai backend): a small model on a modest server; one run teaches the real rates.
REMOTE_SPEED = ModelSpeed(500, 15.0, 0.5, 0.0, "unknown server: conservative default (prefill 500, decode 15 tok/s)")


# bundled LLMs shipped as GGUF and converted once into the model cache on first use
# (pipelines/models/bundled.py): the folder the conversion makes, and what it costs here
# (MODELS.md: dequantising 34-39 s for the 0.5B, plus writing safetensors).
CONVERTED_ONCE: dict[str, tuple[str, float]] = {
    "bundled:qwen2.5-0.5b-instruct": ("qwen2.5-0.5b-instruct", 50.0),
    "bundled:smollm2-135m-instruct": ("smollm2-135m-instruct", 25.0),
}


def first_use_seconds(model: str) -> float:
    """Seconds a bundled model's one-time conversion adds to its first load (0 once done);
    looks only at whether the converted folder exists."""
    if model not in CONVERTED_ONCE:
        return 0.0
    from pipelines.models.bundled import model_cache_dir

    folder, seconds = CONVERTED_ONCE[model]
    return 0.0 if (model_cache_dir() / folder / "config.json").is_file() else seconds


def _size_b(model: str) -> float | None:
    """Billions of parameters named in a model id ("Qwen2.5-1.5B-Instruct" -> 1.5; "135M" -> 0.135)."""
    found = re.findall(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([bBmM])(?![a-zA-Z])", model.rsplit("/", 1)[-1])
    if not found:
        return None
    number, unit = found[-1]
    return float(number) / (1000 if unit in "mM" else 1)


def model_speed(backend: str, model: str, dtype: str | None = None, remote: bool | None = None) -> ModelSpeed:
    """The speed of an LLM on this machine: :data:`MODEL_SPEEDS` when measured, else a
    conservative default — a server's (:data:`REMOTE_SPEED`), or the measured 0.5B scaled by
    the model's size (named in its id, else :data:`UNKNOWN_SIZE_B`)."""
    for key in ((backend, model, dtype), (backend, model, None)):
        if key in MODEL_SPEEDS:
            return MODEL_SPEEDS[key]
    if remote if remote is not None else backend == "openai":
        return REMOTE_SPEED
    size = _size_b(model) or UNKNOWN_SIZE_B
    base = MODEL_SPEEDS[("local", "bundled:qwen2.5-0.5b-instruct", "bfloat16")]
    scale = max(size / 0.5, 0.25)
    slower = 1.0 if dtype in ("bfloat16", "float16") else 2.5  # float32: no AMX prefill, twice the bytes
    return ModelSpeed(base.prompt_tps / scale / slower, base.decode_tps / scale / (slower ** 0.5), 1.0,
                      base.load_s * scale, f"unknown model: the 0.5B's rates scaled to {size:g}B (conservative)")


@dataclass(frozen=True)
class Span:
    """A quantity as low, expected and high."""

    low: float
    mid: float
    high: float

    def scaled(self, factor: float) -> Span:
        return Span(self.low * factor, self.mid * factor, self.high * factor)


@dataclass(frozen=True)
class LLMPart:
    """The LLM calls of one kind a stage makes per item, and their tokens per call.

    Attributes:
        key: the ``llm`` block (its JSON) the calls go to: one model load per key and process.
        backend, model, dtype: which model (for its speed).
        calls: calls per item.
        prompt, output: tokens per call.
        remote: answered by a server (several calls in flight: ``in_flight``).
        in_flight: calls a server answers at once (1 for local models).
        prices: the block's ``llm.prices`` (None: no cost).
        max_tokens: the block's ``llm.max_tokens``: no answer is longer.
        prompt_from: how the prompt tokens were counted (a tokenizer, or characters / 4).
    """

    key: str
    backend: str
    model: str
    dtype: str | None
    calls: Span
    prompt: Span
    output: Span
    remote: bool = False
    in_flight: int = 1
    prices: Any = None
    max_tokens: int | None = None
    prompt_from: str = "counted as characters / 4"


@dataclass
class StageEstimate:
    """A stage's estimate. ``seconds`` is the point estimate (the total the dry run adds up and
    a run keeps beside the measured time), ``seconds_low`` / ``seconds_high`` its range.
    ``ms_per_item`` is the point per item of work (model loading included)."""

    stage: str
    items: int  # items the stage applies to
    done: int  # records already in the run with the same key
    cached: int  # in the cache: copied, not computed
    to_compute: int
    unknown: int  # upstream not computed yet: key unknown, counted as to compute
    not_applicable: int
    ms_per_item: float
    rate_from: str  # "measured (N items)" | "measured (N calls)" | "default" | "tokens × rates (...)"
    seconds: float
    llm_requests: int = 0
    tokens_in: int = 0
    tokens_out_max: int = 0
    seconds_low: float = 0.0
    seconds_high: float = 0.0
    load_seconds: float = 0.0  # model loading this stage pays (included in seconds)
    tokens_out: int = 0  # expected output tokens (tokens_out_max: at most)
    seconds_per_call: float = 0.0
    calls_per_item: float = 0.0
    contention: float = 1.0  # the machine's CPU contention when estimated (every figure multiplied by it)
    cost: float | None = None  # at llm.prices, when set (None too when its models' currencies differ)
    currency: str | None = None
    basis: list[str] = field(default_factory=list)  # one line per figure used, for the curious
    llm: list[dict[str, Any]] = field(default_factory=list)  # per model: LLMRow.as_dict()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def work(self) -> int:
        return self.to_compute + self.unknown


def rate_key(stage: str, model: str | None) -> str:
    return f"{stage}|{model or '-'}"


def read_rates(cache_root: Path) -> dict[str, dict[str, Any]]:
    path = Path(cache_root) / RATES_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _mean(old: dict[str, Any], name: str, weight_old: float, value: float, weight_new: float) -> float:
    previous = old.get(name)
    if previous is None or weight_old <= 0:
        return value
    return (float(previous) * weight_old + value * weight_new) / (weight_old + weight_new)


def record_rates(cache_root: Path, measured: dict[str, tuple[str | None, float, int]],
                 llm: dict[str, dict[str, float]] | None = None, contention: float = 1.0) -> None:
    """Add what stages measured to the machine's throughput file.

    Args:
        cache_root: the cache directory holding :data:`RATES_FILE`.
        measured: ``stage -> (model, compute seconds, items computed)``: a running mean of
            seconds per item, weighted by items (at most :data:`LEARNED_WEIGHT_CAP` items of
            weight kept, so that a faster machine or package shows through).
        llm: for LLM stages, ``stage -> {calls, prompt_tokens, completion_tokens, load_s}``:
            the calls the stage computed, their tokens, and the model loading its wall time
            included. Gives calls per item and, per call, tokens and seconds (load taken out)
            — what :func:`estimate_stage` prefers to any default.
        contention: the CPU contention while the stages ran (:func:`cpu_contention`): the
            seconds are divided by it, so the file keeps quiet-machine figures.
    """
    contention = max(contention, 1.0)
    rates = read_rates(cache_root)
    for stage, (model, seconds, computed) in measured.items():
        if computed <= 0:
            continue
        seconds = seconds / contention
        key = rate_key(stage, model)
        old = rates.get(key) or {}
        n_old = min(int(old.get("items", 0)), LEARNED_WEIGHT_CAP)
        entry = {**old, "ms_per_item": round(_mean(old, "ms_per_item", n_old, 1000 * seconds / computed, computed), 2),
                 "items": n_old + computed, "contention": round(contention, 2), "updated_at": utc_now().isoformat()}
        usage = (llm or {}).get(stage)
        if usage and usage.get("calls", 0) > 0:
            calls = float(usage["calls"])
            c_old = min(float(old.get("calls", 0)), LEARNED_WEIGHT_CAP)
            call_s = max(seconds - float(usage.get("load_s", 0.0)), 0.0) / calls  # seconds: quiet-machine
            entry.update(
                calls=round(c_old + calls, 2),
                calls_per_item=round(_mean(old, "calls_per_item", n_old, calls / computed, computed), 4),
                ms_per_call=round(_mean(old, "ms_per_call", c_old, 1000 * call_s, calls), 2),
                prompt_tokens_per_call=round(_mean(old, "prompt_tokens_per_call", c_old,
                                                   float(usage.get("prompt_tokens", 0)) / calls, calls), 1),
                output_tokens_per_call=round(_mean(old, "output_tokens_per_call", c_old,
                                                   float(usage.get("completion_tokens", 0)) / calls, calls), 1),
            )
        rates[key] = entry
    atomic_write_json(Path(cache_root) / RATES_FILE, rates)


def rate_for(rates: dict[str, dict[str, Any]], stage: str, model: str | None) -> tuple[float, str]:
    """Seconds per item (ms) of a stage without an LLM: measured here, else the default."""
    found = rates.get(rate_key(stage, model))
    if found and found.get("ms_per_item") is not None:
        return float(found["ms_per_item"]), f"measured ({int(found.get('items', 0))} items)"
    return DEFAULT_MS_PER_ITEM.get(stage, FALLBACK_MS), "default"


# ----------------------------------------------------------------------------- LLM work
def _tokens(chars: float) -> float:
    return chars / CHARS_PER_TOKEN


def _text_fill(budget: int, seen: float | None) -> Span:
    """Tokens of a video's text fitted into ``budget``: the mean length of the texts the run
    holds (capped) when known, else a share of the budget (the demo's summaries fill a
    quarter to a half of predict's 1,200; long clips fill it)."""
    if seen is not None:
        mid = min(seen, budget)
        return Span(mid * 0.8, mid, min(budget, mid * 1.5))
    return Span(0.25 * budget, 0.5 * budget, budget)


def _bounded(low: float, mid: float, high: float, max_tokens: int) -> Span:
    return Span(min(low, max_tokens), min(mid, max_tokens), min(high, max_tokens))


def _llm_part(key_cfg: Any, calls: Span, prompt: Span, output: Span, *, batch: int = 1) -> LLMPart:
    spec = getattr(key_cfg, "spec", None)
    remote = bool(getattr(spec, "remote", key_cfg.backend == "openai"))
    in_flight = max(1, min(int(getattr(key_cfg, "max_concurrency", 1) or 1), batch)) if remote else 1
    try:
        key = key_cfg.model_dump_json()
    except AttributeError:
        key = f"{key_cfg.backend}|{key_cfg.model}"
    return LLMPart(key=key, backend=key_cfg.backend, model=key_cfg.model, dtype=getattr(key_cfg, "dtype", None),
                   calls=calls, prompt=prompt, output=output, remote=remote, in_flight=in_flight,
                   prices=getattr(key_cfg, "prices", None), max_tokens=getattr(key_cfg, "max_tokens", None))


def llm_work(stage: str, cfg: Any, *, template_tokens: float, stage_configs: dict[str, Any],
             video_tokens: float | None = None, batch_size: int = 1) -> list[LLMPart]:
    """The LLM calls one item of ``stage`` makes, read from the stage's config (and its code:
    each case below names the code it follows). ``template_tokens``: the prompt file's own
    text; ``video_tokens``: the mean video text length the run already holds (None: unknown);
    ``batch_size``: items per batch (a batched stage's calls to a server go out together)."""
    llm = getattr(cfg, "llm", None)
    if llm is None or not hasattr(llm, "max_tokens"):
        return []
    mt = int(llm.max_tokens)
    batch = max(1, batch_size)
    if stage == "hypothesize":
        # stages/hypothesize.py: n_hypotheses questions per item (the batch's asked together), the degenerate ones
        # asked again once with the problems named (half of the 0.5B's first answers in the
        # demo). Questions that show the same examples are shared between items (cache hits):
        # with a small train set, the low end. Each question shows the neighbours of one
        # class (k / classes of them) fitted into example_tokens; a repair resends it all.
        n = int(getattr(cfg, "n_hypotheses", 5))
        k = int(getattr(stage_configs.get("retrieve_similar"), "k", 10))
        shown = max(1.0, k / 2) * int(getattr(cfg, "example_tokens", 120))
        prompt = Span(template_tokens + 0.5 * shown, template_tokens + shown, template_tokens + 1.4 * shown + 60)
        # {"statement": "Videos that ..." (at most 200 characters), "based_on": [numbers]}
        output = _bounded(14, 24, _tokens(200) + 20, mt)
        # batched: a server gets every question of the batch's items in flight together
        return [_llm_part(llm, Span(0.5 * n, 1.5 * n, 2.0 * n), prompt, output, batch=n * batch)]
    if stage == "predict":
        # stages/predict.py: one answer; one repair when it cannot be read (rare under a
        # schema); label scoring costs prefills only. The prompt: the video's text fitted into
        # text_tokens, plus the hypotheses (hypotheses modes) or icl_examples × example_tokens.
        fill = _text_fill(int(getattr(cfg, "text_tokens", 1200)), video_tokens)
        mode = getattr(cfg, "mode", "hypotheses")
        extra = 0.0
        if mode in ("hypotheses", "hypotheses_nn"):
            extra = 20.0 * int(getattr(stage_configs.get("hypothesize"), "n_hypotheses", 5))
        elif mode == "icl":
            extra = int(getattr(cfg, "icl_examples", 4)) * int(getattr(cfg, "example_tokens", 200)) * 0.8
        prompt = Span(template_tokens + fill.low + extra / 2, template_tokens + fill.mid + extra,
                      template_tokens + fill.high + extra)
        # evidence (2 × 120 characters), hypotheses_used, explanation (300 characters), label,
        # scale, confidence; the demo's answers: 62-86 tokens. cot reasons first: more.
        longer = 2.0 if mode == "cot" else 1.0
        output = _bounded(40 * longer, 75 * longer, (_tokens(540) + 40) * longer, mt)
        repairs = 1.3 if getattr(llm, "backend", "local") == "openai" else 1.05
        # check_explanation: an explanation with contradicted or unsupported claims goes back
        # up to max_repairs times (taken as half of them once each; at most every one, every time)
        sent_back = int(getattr(cfg, "max_repairs", 0)) if getattr(cfg, "check_explanation", False) else 0
        calls = Span(1.0, repairs + 0.5 * min(sent_back, 1), 2.0 + sent_back)
        return [_llm_part(llm, calls, prompt, output, batch=batch)]
    if stage == "audit_claims":
        # stages/audit_claims.py: one split request per audited generated text the llm splits
        # (targets ∩ split_with_llm whose stage runs); the claims copy the text in pieces, so
        # the answer is about 1.3 × the text (the demo: 26-36 tokens for an explanation,
        # 129-195 for an analysis). judge_types: one call per undecided claim of those types.
        targets = set(getattr(cfg, "targets", [])) & set(getattr(cfg, "split_with_llm", []))
        texts: list[float] = []  # tokens of each audited text, expected
        if "predict.explanation" in targets and "predict" in stage_configs:
            texts.append(35.0)  # at most 300 characters; the demo's: about 140
        if "analyse_film.analysis" in targets and "analyse_film" in stage_configs:
            texts += [115.0] * len(getattr(stage_configs["analyse_film"], "students", ["text"]))  # at most 500 chars
        parts = []
        if texts:
            mean = sum(texts) / len(texts)
            prompt = Span(template_tokens + 0.5 * mean, template_tokens + mean, template_tokens + 2 * mean)
            output = _bounded(0.7 * mean, 1.3 * mean + 5, 2.2 * mean + 30, mt)
            n = float(len(texts))
            parts.append(_llm_part(llm, Span(0.8 * n, n, n), prompt, output, batch=batch))
        if getattr(cfg, "judge_types", []):
            # prompts/common/audit_judge: the evidence timeline (judge_lines) and one claim
            lines = int(getattr(cfg, "judge_lines", 60))
            prompt = Span(300, 300 + 6 * lines, 300 + 12 * lines)
            parts.append(_llm_part(llm, Span(0, 2, 10), prompt, _bounded(30, 60, 120, mt), batch=batch))
        return parts
    if stage == "analyse_film":
        # stages/analyse_film.py: one exam per student. The answer: the analysis (at most 500
        # characters), one entry per shot (about 30 tokens; the demo's clips have 1-6 shots, at
        # most max_shots), genres and budget: the demo's 187-353 tokens. The text student with
        # shots_apart answers the shots in questions of their own after the exam: each reads
        # only its question (~150 tokens; the clip is the prefix the backend keeps; a server
        # reads it again, but fast) and answers the shot's entry, scale and movement (~30).
        students = list(getattr(cfg, "students", ["text"]))
        shots = int(getattr(cfg, "max_shots", 12))
        fill = _text_fill(int(getattr(cfg, "text_tokens", 1500)), video_tokens)
        output = _bounded(100, 140 + 30 * min(5, shots), 140 + 30 * shots + 40, mt)
        parts = []
        if "text" in students:
            prompt = Span(template_tokens + fill.low, template_tokens + fill.mid, template_tokens + fill.high)
            apart = bool(getattr(cfg, "shots_apart", False))
            parts.append(_llm_part(llm, Span(1, 1, 1), prompt, _bounded(100, 140, 180, mt) if apart else output,
                                   batch=batch))
            if apart:
                parts.append(_llm_part(llm, Span(1, min(5, shots), shots), Span(120, 150, 200),
                                       _bounded(15, 30, 45, mt), batch=batch))
        vlm = getattr(cfg, "vlm", None)
        if "vlm" in students and vlm is not None:
            # a transformers image-text-to-text model: each frame a few hundred image tokens
            frames = int(getattr(vlm, "max_frames", 8))
            new = int(getattr(vlm, "max_new_tokens", 500))
            parts.append(LLMPart(key=f"vlm:{vlm.model}", backend="local", model=str(vlm.model),
                                 dtype=getattr(vlm, "dtype", None), calls=Span(1, 1, 1),
                                 prompt=Span(template_tokens + 64 * frames, template_tokens + 256 * frames,
                                             template_tokens + 576 * frames),
                                 output=_bounded(output.low, output.mid, output.high, new)))
        return parts
    if stage == "grade_analysis":
        # stages/grade_analysis.py: one grade per student's analysis; the evidence fitted into
        # text_tokens plus the analysis; three reasons (at most 160 characters each), three
        # marks and an overall one: the demo's 103-144 tokens.
        students = list(getattr(stage_configs.get("analyse_film"), "students", ["text"]))
        fill = _text_fill(int(getattr(cfg, "text_tokens", 1200)), video_tokens)
        prompt = Span(template_tokens + fill.low + 60, template_tokens + fill.mid + 115,
                      template_tokens + fill.high + 130)
        output = _bounded(80, 125, _tokens(3 * 160) + 60, mt)
        n = float(len(students))
        return [_llm_part(llm, Span(0.5 * n, n, n), prompt, output, batch=batch)]
    # any other stage with an llm block: one call per item over its text budget
    budget = float(getattr(cfg, "text_tokens", 0) or DEFAULT_PROMPT_TOKENS)
    prompt = Span(template_tokens + 0.25 * budget, template_tokens + 0.5 * budget, template_tokens + budget)
    return [_llm_part(llm, Span(1, 1, 2), prompt, _bounded(mt / 8, mt / 4, mt, mt), batch=batch)]


def _combined(*ratios: float) -> float:
    """Several independent uncertainties, each a ratio of its extreme to its expected value,
    as one factor: their logarithms added in quadrature (all at their extremes at once is
    far less likely than any one). A ratio of 0 (no call at all) gives 0."""
    if any(r <= 0 for r in ratios):
        return 0.0
    logs = [math.log(r) for r in ratios]
    sign = 1.0 if sum(logs) >= 0 else -1.0
    return math.exp(sign * math.sqrt(sum(v * v for v in logs)))


def call_seconds(speed: ModelSpeed, prompt_tokens: float, output_tokens: float) -> float:
    """Seconds of one call: overhead + prompt / prompt rate + output / decode rate."""
    return speed.call_s + prompt_tokens / speed.prompt_tps + output_tokens / speed.decode_tps


def _learned(rates: dict[str, dict[str, Any]], stage: str, model: str | None) -> dict[str, Any] | None:
    found = rates.get(rate_key(stage, model))
    if found and found.get("ms_per_call") is not None and found.get("calls_per_item") is not None:
        return found
    return None


def estimate_stage(stage: str, cfg: Any, model: str | None, counts: dict[str, int],
                   rates: dict[str, dict[str, Any]], *, parts: list[LLMPart] | None = None,
                   pays_load: set[str] | frozenset[str] = frozenset(), contention: float = 1.0) -> StageEstimate:
    """One stage's estimate for ``counts`` (items, done, cached, to_compute, unknown,
    not_applicable).

    Args:
        stage, cfg, model: the stage, its config and its model (the rates' key).
        rates: :func:`read_rates`.
        parts: the stage's LLM calls per item (:func:`llm_work`); empty: a stage without an LLM.
        pays_load: keys of the ``llm`` blocks this stage loads (the first stage using a block).
        contention: the machine's CPU contention now (:func:`cpu_contention`): every
            quiet-machine figure is multiplied by it.
    """
    work = counts["to_compute"] + counts["unknown"]
    parts = parts or []
    if not parts:
        ms, source = rate_for(rates, stage, model)
        spread = LEARNED_SPREAD if source != "default" else DEFAULT_ITEM_SPREAD
        ms *= contention
        seconds = work * ms / 1000
        return StageEstimate(stage=stage, ms_per_item=round(ms, 2), rate_from=source, seconds=round(seconds, 1),
                             seconds_low=round(seconds * spread[0], 1), seconds_high=round(seconds * spread[1], 1),
                             contention=round(contention, 2), **counts)
    low = mid = high = load = calls_mid = 0.0
    basis: list[str] = []
    learned = _learned(rates, stage, model)
    sources = set()
    rows: dict[str, LLMRow] = {}
    for part in parts:
        speed = model_speed(part.backend, part.model, part.dtype, part.remote)
        paid = speed.load_s + first_use_seconds(part.model) if part.key in pays_load and work > 0 else 0.0
        load += paid
        calls = part.calls.scaled(work)
        row = rows.setdefault(part.model, LLMRow(model=part.model, backend=part.backend))
        if learned is not None and part is parts[0]:
            per_item = float(learned["calls_per_item"])
            per_call = float(learned["ms_per_call"]) / 1000
            n = work * per_item
            p_tok = float(learned.get("prompt_tokens_per_call") or part.prompt.mid)
            o_tok = float(learned.get("output_tokens_per_call") or part.output.mid)
            calls_mid += n
            mid += n * per_call + paid
            low += n * per_call * LEARNED_SPREAD[0] + paid
            high += n * per_call * LEARNED_SPREAD[1] + paid
            sources.add(f"measured ({float(learned['calls']):.0f} calls)")
            basis.append(f"{part.model}: {per_item:.2f} calls/item × {per_call:.1f} s/call (measured here)")
            seen = f"the mean of {float(learned['calls']):,.0f} calls measured here"
            row.add(n, n * p_tok, n * o_tok, max(calls.high, n) * max(part.prompt.high, p_tok),
                    max(calls.high, n) * max(part.output.high, o_tok), part.prices,
                    prompt_from=f"{seen} ({p_tok:,.0f} per call)" if learned.get("prompt_tokens_per_call")
                    else part.prompt_from,
                    completion_from=f"{seen} ({o_tok:,.0f} per call){_cap(part)}"
                    if learned.get("output_tokens_per_call") else _schema_from(part))
        else:
            flight = part.in_flight
            per_call = call_seconds(speed, part.prompt.mid, part.output.mid)
            spent = calls.mid * per_call / flight
            calls_mid += calls.mid
            mid += spent + paid
            low += spent * _combined(part.calls.low / part.calls.mid if part.calls.mid else 0.0,
                                     call_seconds(speed, part.prompt.low, part.output.low) / per_call) + paid * 0.5
            high += spent * _combined(part.calls.high / part.calls.mid if part.calls.mid else 1.0,
                                      call_seconds(speed, part.prompt.high, part.output.high) / per_call,
                                      BUSY_FACTOR) + paid * 2
            sources.add(f"tokens × rates ({'server' if part.remote else 'default'})")
            basis.append(f"{part.model}: {part.calls.mid:.2f} calls/item × ({part.prompt.mid:.0f} prompt tokens / "
                         f"{speed.prompt_tps:.0f} + {part.output.mid:.0f} output tokens / {speed.decode_tps:.1f} "
                         f"+ {speed.call_s:.1f} s) per call; {speed.source}")
            row.add(calls.mid, calls.mid * part.prompt.mid, calls.mid * part.output.mid,
                    calls.high * part.prompt.high, calls.high * part.output.high, part.prices,
                    prompt_from=part.prompt_from, completion_from=_schema_from(part))
        if paid:
            basis.append(f"{part.model}: loading {paid:.0f} s")
    measured = rates.get(rate_key(stage, model)) if learned is None else None
    if measured and measured.get("ms_per_item") is not None:  # a run that kept no per-call figures
        mid = work * float(measured["ms_per_item"]) / 1000
        low, high = mid * LEARNED_SPREAD[0], mid * LEARNED_SPREAD[1]
        sources = {f"measured ({int(measured.get('items', 0))} items)"}
        basis.append(f"{float(measured['ms_per_item']) / 1000:.1f} s/item measured here (loading included)")
    mid, low, high, load = (v * contention for v in (mid, low, high, load))
    seconds_per_call = max(mid - load, 0.0) / calls_mid if calls_mid else 0.0
    llm = [r.as_dict() for r in rows.values()]
    priced = [r for r in llm if r.get("cost") is not None]
    currencies = {r["currency"] for r in priced}
    return StageEstimate(
        stage=stage, ms_per_item=round(1000 * mid / work, 1) if work else 0.0,
        rate_from=", ".join(sorted(sources)), seconds=round(mid, 1), seconds_low=round(low, 1),
        seconds_high=round(high, 1), load_seconds=round(load, 1), llm_requests=sum(r["requests"] for r in llm),
        tokens_in=sum(r["prompt_tokens"] for r in llm), tokens_out=sum(r["completion_tokens"] for r in llm),
        tokens_out_max=sum(r["completion_tokens_max"] for r in llm),
        seconds_per_call=round(seconds_per_call, 2), calls_per_item=round(calls_mid / work, 2) if work else 0.0,
        cost=round(sum(r["cost"] for r in priced), 6) if len(currencies) == 1 else None,
        currency=currencies.pop() if len(currencies) == 1 else None, basis=basis, llm=llm,
        contention=round(contention, 2), **counts)


def _cap(part: LLMPart) -> str:
    return f", at most max_tokens {part.max_tokens} per call" if part.max_tokens else ""


def _schema_from(part: LLMPart) -> str:
    """Where a default completion length comes from, in words (for the dry run)."""
    return f"the answer's expected length under its schema ({part.output.mid:,.0f} per call){_cap(part)}"


@dataclass
class LLMRow:
    """One stage's expected requests to one model, with their tokens and cost: the shape of a
    ``stats.json`` ``llm_usage`` row (``requests``, ``prompt_tokens``, ``completion_tokens``,
    ``cost``, ``currency``), so that a run's measured usage sits beside it key by key. The
    ``_max`` figures are the ceiling (every repair made, every answer at its longest)."""

    model: str
    backend: str
    requests: float = 0.0
    prompt_tokens: float = 0.0
    completion_tokens: float = 0.0
    prompt_tokens_max: float = 0.0
    completion_tokens_max: float = 0.0
    cost: float | None = None
    cost_max: float | None = None
    currency: str | None = None
    prompt_from: list[str] = field(default_factory=list)
    completion_from: list[str] = field(default_factory=list)
    prices: list[Any] = field(default_factory=list)  # each part's llm.prices (None: unpriced)

    def add(self, requests: float, prompt: float, completion: float, prompt_max: float, completion_max: float,
            prices: Any, *, prompt_from: str, completion_from: str) -> None:
        self.requests += requests
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.prompt_tokens_max += prompt_max
        self.completion_tokens_max += completion_max
        self.prices.append(prices)
        if prices is not None:  # priced on the part's own tokens: two blocks of one model may differ
            self.cost = (self.cost or 0.0) + prices.cost(prompt, completion)
            self.cost_max = (self.cost_max or 0.0) + prices.cost(prompt_max, completion_max)
            self.currency = prices.currency
        for into, what in ((self.prompt_from, prompt_from), (self.completion_from, completion_from)):
            if what not in into:
                into.append(what)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model, "backend": self.backend, "requests": int(math.ceil(self.requests - 1e-9)),
            "prompt_tokens": int(self.prompt_tokens), "completion_tokens": int(self.completion_tokens),
            "prompt_tokens_max": int(self.prompt_tokens_max), "completion_tokens_max": int(self.completion_tokens_max),
            "prompt_from": "; ".join(self.prompt_from), "completion_from": "; ".join(self.completion_from),
        }
        if self.cost is not None:
            cost, cost_max, one = self.cost, self.cost_max or 0.0, self.prices[0]
            if all(p == one for p in self.prices):  # one price for the row: the cost of the tokens it shows
                cost = one.cost(out["prompt_tokens"], out["completion_tokens"])
                cost_max = one.cost(out["prompt_tokens_max"], out["completion_tokens_max"])
            out.update(cost=round(cost, 6), cost_max=round(cost_max, 6), currency=self.currency)
        return out


def template_tokens(prompt_names: list[str], measure: Any = None) -> float:
    """Tokens of the stage's main prompt file (its text, the inputs left out), counted by
    ``measure`` (:func:`prompt_counter`; default characters / 4)."""
    from pipelines.prompts import load_prompt

    if not prompt_names:
        return 300.0
    try:
        body = load_prompt(prompt_names[0]).body
    except Exception:  # a missing prompt fails where the stage runs, with its own message
        return 300.0
    text = re.sub(r"\{[%#].*?[%#]\}", "", body)
    return float(measure(text)) if measure is not None else _tokens(len(text))


def prompt_counter(llm_cfg: Any) -> tuple[Any, str]:
    """How the dry run counts an ``llm`` block's prompt tokens, and its name in words: the
    tokenizer ``llm.tokenizer`` names; a local model folder's own ``tokenizer.json``; a
    bundled model's once it has been converted; else characters / 4 (``pipelines/budget.py``).
    Never converts, downloads or loads a model, and never asks a server (a remote model's
    tokenizer is known only when configured)."""
    from pipelines.budget import _tokenizer_measure, tokenizer_file

    if llm_cfg is None or not hasattr(llm_cfg, "max_tokens"):
        return None, "counted as characters / 4"
    file = None
    try:
        if getattr(llm_cfg, "tokenizer", None) or not (llm_cfg.spec.remote or str(llm_cfg.model).startswith("bundled:")):
            file = tokenizer_file(llm_cfg)
        elif str(llm_cfg.model) in CONVERTED_ONCE:
            from pipelines.models.bundled import model_cache_dir

            found = model_cache_dir() / CONVERTED_ONCE[str(llm_cfg.model)][0] / "tokenizer.json"
            file = found if found.is_file() else None
        if file is not None:
            return _tokenizer_measure(str(file)), f"counted with the tokenizer {file}"
    except Exception:  # an unreadable tokenizer: the stage reports it where it runs; estimate by characters
        pass
    return None, "counted as characters / 4"


MEAN_SAMPLE = 200  # video texts measured at most for their mean length (a large run stays quick)


def stage_llm_parts(stage: str, cfg: Any, *, prompt_names: list[str], stage_configs: dict[str, Any],
                    texts: list[str], batch_size: int = 1) -> list[LLMPart]:
    """:func:`llm_work` for one stage of a run, its prompt sized in its model's tokens: the
    prompt file and the mean of the video texts the run holds (``texts``; at most
    :data:`MEAN_SAMPLE` of them, evenly spaced), each counted by :func:`prompt_counter`."""
    measure, counted = prompt_counter(getattr(cfg, "llm", None))
    sample = texts[:: max(1, math.ceil(len(texts) / MEAN_SAMPLE))]
    size = measure or (lambda text: len(text) / CHARS_PER_TOKEN)
    video = sum(size(t) for t in sample) / len(sample) if sample else None
    parts = llm_work(stage, cfg, template_tokens=template_tokens(prompt_names, measure), stage_configs=stage_configs,
                     video_tokens=video, batch_size=batch_size)
    return [p if p.key.startswith("vlm:") else replace(p, prompt_from=counted) for p in parts]


def llm_estimate(estimates: dict[str, StageEstimate]) -> dict[str, list[dict[str, Any]]]:
    """The estimate's LLM rows per stage (stages with an ``llm`` block), shaped like
    ``stats.json``'s ``llm_usage`` so that a run keeps them side by side (``llm_estimate``)."""
    return {name: list(e.llm) for name, e in estimates.items() if e.llm}


def llm_cache_empty(cache_root: Path) -> bool:
    """Whether the LLM call cache holds no answer at all (then no request the estimate counts
    can be answered from it). Stops at the first entry found: cheap on a large cache."""
    import os

    root = Path(cache_root) / "llm"
    try:
        with os.scandir(root) as shards:
            for shard in shards:
                if shard.is_dir():
                    with os.scandir(shard.path) as entries:
                        if any(e.name.endswith(".json") for e in entries):
                            return False
    except OSError:
        return True
    return True


def format_cost(value: float, currency: str | None) -> str:
    """A cost with enough decimals to show a small one (0.0021 USD, 0.000042 USD, 12.50 USD)."""
    digits = 2 if value >= 100 else 4 if value >= 0.001 or value == 0 else 6
    return f"{value:,.{digits}f} {currency or ''}".rstrip()


def usage_with_estimate(usage: dict[str, list[dict[str, Any]]],
                        estimate: dict[str, list[dict[str, Any]]] | None) -> list[str]:
    """``stats.json``'s measured ``llm_usage`` beside its ``llm_estimate``, one line per stage
    and model (what ``m2t run`` ends with and ``m2t status`` shows), e.g. ``predict: served:
    5 requests (est. 6), 0 answers from the cache, 3,812 prompt (est. 3,600) + 410 completion
    tokens (est. 450), 0 retries, 0 failed, 2.1 s, cost 0.0021 USD (est. 0.0020)``.
    A run without an estimate (older runs) gets the measured figures alone; a stage estimated
    to send requests that sent none is shown too."""
    estimate = estimate or {}
    lines = []
    for stage in [*usage, *(s for s in estimate if s not in usage)]:
        measured = {row["model"]: row for row in usage.get(stage, [])}
        expected = {row["model"]: row for row in estimate.get(stage, [])}
        for model in [*measured, *(m for m in expected if m not in measured)]:
            got, est = measured.get(model, {}), expected.get(model, {})
            if not (got.get("requests") or got.get("cached") or got.get("failed") or est.get("requests")):
                continue

            def beside(key: str, unit: str) -> str:
                shown = f"{got.get(key, 0):,} {unit}"
                return f"{shown} (est. {est[key]:,})" if key in est else shown

            text = (f"{stage or '(outside a stage)'}: {model}: {beside('requests', 'requests')}, "
                    f"{got.get('cached', 0):,} answers from the cache, {beside('prompt_tokens', 'prompt')} + "
                    f"{beside('completion_tokens', 'completion tokens')}, {got.get('retries', 0):,} retries, "
                    f"{got.get('failed', 0):,} failed, {got.get('seconds', 0):.1f} s")
            if "cost" in got:
                text += f", cost {format_cost(got['cost'], got.get('currency'))}"
                if est.get("cost") is not None:
                    other = None if est.get("currency") == got.get("currency") else est.get("currency")
                    text += f" (est. {format_cost(est['cost'], other)})"
            elif est.get("cost") is not None:
                text += f", cost - (est. {format_cost(est['cost'], est.get('currency'))})"
            lines.append(text)
    return lines


def over_estimate(measured_s: float, estimate: StageEstimate | None, floor_s: float = 5.0) -> bool:
    """Whether a stage took more than :data:`OVER_FACTOR` × its estimate (stages under
    ``floor_s`` seconds are never flagged: start-up noise)."""
    if estimate is None or measured_s < floor_s:
        return False
    return measured_s > OVER_FACTOR * max(estimate.seconds, 0.0)


def totals(estimates: dict[str, StageEstimate]) -> tuple[float, float, float]:
    """The run's (point, low, high) seconds."""
    return (sum(e.seconds for e in estimates.values()), sum(e.seconds_low for e in estimates.values()),
            sum(e.seconds_high for e in estimates.values()))
