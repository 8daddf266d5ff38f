"""What a run will cost, before it runs: items to compute per stage, wall time, LLM tokens.

**Wall time** per stage = items to compute × seconds per item. The seconds per item come from
runs on this machine: after every run, each stage that computed items adds its measured
throughput (compute seconds / items computed, model loading included) to
``<cache dir>/throughput.json``, keyed by stage and model, as a running mean over the items
seen. Without a measurement, :data:`DEFAULT_MS_PER_ITEM` (the demo configs' figures on a
2-core CPU with the bundled models, rounded up) is used, and the estimate says so.

**LLM tokens** for stages with an ``llm`` block: one request per item to compute (the audit
and the film stages send a few per item: :data:`REQUESTS_PER_ITEM`); tokens out at most
requests × ``llm.max_tokens``; tokens in about requests × the stage's text budget
(``text_tokens`` where the stage has one, else :data:`DEFAULT_PROMPT_TOKENS`) — a rough
figure for sizing a paid endpoint, not a bill.

Items whose upstream records do not exist yet have unknown cache keys: they are counted as
``unknown`` and estimated as to be computed (an upper bound; the cache may still hold them).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipelines.records import utc_now
from pipelines.store import atomic_write_json

RATES_FILE = "throughput.json"
DEFAULT_MS_PER_ITEM: dict[str, float] = {
    "extract_frames": 150, "read_onscreen_text": 1500, "measure_visuals": 6000, "detect_objects": 1200,
    "describe_frames": 400, "transcribe_audio": 1100, "describe_audio": 100, "summarize": 5, "embed": 300,
    "retrieve_similar": 30, "hypothesize": 5000, "predict": 4000, "analyse_film": 13000, "grade_analysis": 7000,
    "audit_claims": 5000,
}
FALLBACK_MS = 1000.0
DEFAULT_PROMPT_TOKENS = 1000
REQUESTS_PER_ITEM = {"audit_claims": 2, "grade_analysis": 1, "analyse_film": 1}


@dataclass
class StageEstimate:
    stage: str
    items: int  # items the stage applies to
    done: int  # records already in the run with the same key
    cached: int  # in the cache: copied, not computed
    to_compute: int
    unknown: int  # upstream not computed yet: key unknown, counted as to compute
    not_applicable: int
    ms_per_item: float
    rate_from: str  # "measured (N items)" | "default"
    seconds: float
    llm_requests: int = 0
    tokens_in: int = 0
    tokens_out_max: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rate_key(stage: str, model: str | None) -> str:
    return f"{stage}|{model or '-'}"


def read_rates(cache_root: Path) -> dict[str, dict[str, Any]]:
    path = Path(cache_root) / RATES_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_rates(cache_root: Path, measured: dict[str, tuple[str | None, float, int]]) -> None:
    """Add ``stage -> (model, compute seconds, items computed)`` to the machine's throughput
    file (running mean weighted by items; at most the last 10,000 items' weight kept, so a
    faster machine or package shows through)."""
    rates = read_rates(cache_root)
    for stage, (model, seconds, computed) in measured.items():
        if computed <= 0:
            continue
        key = rate_key(stage, model)
        old = rates.get(key) or {}
        n_old = min(int(old.get("items", 0)), 10_000)
        ms = 1000 * seconds / computed
        mean = (float(old.get("ms_per_item", ms)) * n_old + ms * computed) / (n_old + computed)
        rates[key] = {"ms_per_item": round(mean, 2), "items": n_old + computed, "updated_at": utc_now().isoformat()}
    atomic_write_json(Path(cache_root) / RATES_FILE, rates)


def rate_for(rates: dict[str, dict[str, Any]], stage: str, model: str | None) -> tuple[float, str]:
    found = rates.get(rate_key(stage, model))
    if found and found.get("ms_per_item") is not None:
        return float(found["ms_per_item"]), f"measured ({int(found.get('items', 0))} items)"
    return DEFAULT_MS_PER_ITEM.get(stage, FALLBACK_MS), "default"


def llm_tokens(stage: str, cfg: Any, items: int) -> tuple[int, int, int]:
    """(requests, tokens in, tokens out at most) for ``items`` items of a stage with an ``llm``."""
    llm = getattr(cfg, "llm", None)
    if llm is None or not hasattr(llm, "max_tokens") or items <= 0:
        return 0, 0, 0
    requests = items * REQUESTS_PER_ITEM.get(stage, 1)
    prompt = int(getattr(cfg, "text_tokens", 0) or DEFAULT_PROMPT_TOKENS)
    return requests, requests * prompt, requests * int(llm.max_tokens)


def estimate_stage(stage: str, cfg: Any, model: str | None, counts: dict[str, int],
                   rates: dict[str, dict[str, Any]]) -> StageEstimate:
    ms, source = rate_for(rates, stage, model)
    work = counts["to_compute"] + counts["unknown"]
    requests, tokens_in, tokens_out = llm_tokens(stage, cfg, work)
    return StageEstimate(stage=stage, ms_per_item=ms, rate_from=source, seconds=round(work * ms / 1000, 1),
                         llm_requests=requests, tokens_in=tokens_in, tokens_out_max=tokens_out, **counts)
