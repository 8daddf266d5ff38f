"""The messages a stage sends an item, rebuilt from a finished run's records without calling a
model (``m2t render``, ``analysis.RunData.messages``): the stage's ``render`` hook, given the
same upstream records the runner hands the stage."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from pipelines.records import Item, Record
from pipelines.stages.registry import ModelPool, StageContext, StageSpec
from pipelines.store import RunStore


def upstream_records(store: RunStore, spec: StageSpec, stages: Collection[str]) -> dict[str, dict[str, Record]]:
    """The run's records of the stages ``spec`` needs or uses (those in ``stages``), by stage
    and item id."""
    return {u: {r.item_id: r for r in store.current_records(u)} for u in (*spec.needs, *spec.uses) if u in stages}


def render_requests(spec: StageSpec, item: Item, stage_cfg: Any, upstream: dict[str, Record],
                    cache_dir: Path | None = None) -> list[list[tuple[str, Any]]]:
    """Every request ``spec`` sends ``item`` (a request is a list of (role, content)), built
    from the item's ``upstream`` records by the stage's render hook."""
    assert spec.render is not None
    ctx = StageContext(models=ModelPool(), provenance={}, upstream=upstream, cache_dir=cache_dir)
    rendered = spec.render(item, stage_cfg, ctx)
    return [rendered] if rendered and isinstance(rendered[0], tuple) else list(rendered)


def shared_prefix(first: list[Any], messages: list[Any]) -> int:
    """How many leading messages ``messages`` has in common with ``first`` (never all of it)."""
    n = 0
    while n < min(len(first), len(messages)) - 1 and first[n] == messages[n]:
        n += 1
    return n
