"""The local executor: runs a batch in this process, one item after another.

Each item is isolated: an exception becomes that item's :class:`ErrorRecord` and the batch
goes on. Models live in the stage context's pool, so they load once per process.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipelines.errors import M2TError, first_line
from pipelines.records import ErrorRecord, Item, Record
from pipelines.stages.registry import StageConfig, StageContext, StageSpec


@dataclass
class WorkItem:
    """What an executor runs: one item of a stage, with the stage context the runner built for it
    (its upstream records, provenance, model pool)."""

    item: Item
    ctx: StageContext


@dataclass
class Outcome:
    item_id: str
    record: Record | None = None
    error: ErrorRecord | None = None


def one_line(exc: BaseException) -> str:
    """A user-facing reason: our own errors as written, others prefixed by their type."""
    text = first_line(exc, limit=None)
    if isinstance(exc, M2TError) or text == type(exc).__name__:
        return text
    return f"{type(exc).__name__}: {text}"


def failure(spec: StageSpec, task: WorkItem, exc: BaseException, debug: bool) -> Outcome:
    reason = one_line(exc)
    if debug:
        reason += "\n" + "".join(traceback.format_exception(exc))
    return Outcome(
        task.item.item_id,
        error=ErrorRecord(
            item_id=task.item.item_id,
            stage=spec.name,
            key=task.ctx.provenance.get("key"),
            error_type=type(exc).__name__,
            reason=reason,
        ),
    )


def run_item(spec: StageSpec, cfg: StageConfig, task: WorkItem, debug: bool = False) -> Outcome:
    started = time.perf_counter()
    try:
        record = spec.fn(task.item, cfg, task.ctx)
    except Exception as exc:  # one item's failure must never stop the batch
        return failure(spec, task, exc, debug)
    record = record.model_copy(update={"seconds": round(time.perf_counter() - started, 4)})
    return Outcome(task.item.item_id, record=record)


def run_in_one_call(spec: StageSpec, cfg: StageConfig, tasks: list[WorkItem], debug: bool = False) -> list[Outcome]:
    """A batched stage: one call for the batch; per-item exceptions come back as results."""
    started = time.perf_counter()
    try:
        results = spec.fn([t.item for t in tasks], cfg, [t.ctx for t in tasks])
        if len(results) != len(tasks):
            raise RuntimeError(f"stage {spec.name} returned {len(results)} results for {len(tasks)} items")
    except Exception as exc:  # the whole call failed: every item of the batch gets the reason
        return [failure(spec, task, exc, debug) for task in tasks]
    each = round((time.perf_counter() - started) / max(len(tasks), 1), 4)
    outcomes = []
    for task, result in zip(tasks, results):
        if isinstance(result, BaseException):
            outcomes.append(failure(spec, task, result, debug))
        else:
            outcomes.append(Outcome(task.item.item_id, record=result.model_copy(update={"seconds": each})))
    return outcomes


def run_batch(spec: StageSpec, cfg: StageConfig, tasks: list[WorkItem], debug: bool = False) -> list[Outcome]:
    """One batch in this process: a batched stage in one call, else item by item; every item's
    failure stays its own (what any executor runs on its worker)."""
    if spec.batched:
        return run_in_one_call(spec, cfg, tasks, debug)
    return [run_item(spec, cfg, task, debug) for task in tasks]


class LocalExecutor:
    """Batches one after another in this process; the runner saves each as it comes."""

    name = "local"
    writes_records = False  # the runner writes each batch's shard and cache entries

    def __init__(self, debug: bool = False) -> None:
        self.debug = debug

    def run_batch(self, spec: StageSpec, cfg: StageConfig, tasks: list[WorkItem]) -> list[Outcome]:
        return run_batch(spec, cfg, tasks, self.debug)

    def map_batches(self, spec: StageSpec, cfg: StageConfig, batches: list[list[WorkItem]]) -> Iterator[list[Outcome]]:
        """Each batch's outcomes, in order, as it finishes."""
        for batch in batches:
            yield self.run_batch(spec, cfg, batch)

    def llm_usage(self) -> dict[str, list[dict[str, Any]]]:
        """Nothing of its own: the runner's pool holds the models, and their usage."""
        return {}

    def close(self) -> None:
        """Nothing to release: models live in the runner's pool."""
