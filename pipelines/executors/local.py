"""The local executor: runs a batch in this process, one item after another.

Each item is isolated: an exception becomes that item's :class:`ErrorRecord` and the batch
goes on. Models live in the stage context's pool, so they load once per process.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

from pipelines.errors import M2TError
from pipelines.records import ErrorRecord, Item, Record
from pipelines.stages.registry import StageConfig, StageContext, StageSpec


@dataclass
class Task:
    item: Item
    ctx: StageContext


@dataclass
class Outcome:
    item_id: str
    record: Record | None = None
    error: ErrorRecord | None = None


def one_line(exc: BaseException) -> str:
    """A user-facing reason: our own errors as written, others prefixed by their type."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if isinstance(exc, M2TError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_one(spec: StageSpec, cfg: StageConfig, task: Task, debug: bool = False) -> Outcome:
    started = time.perf_counter()
    try:
        record = spec.fn(task.item, cfg, task.ctx)
    except Exception as exc:  # one item's failure must never stop the batch
        reason = one_line(exc)
        if debug:
            reason += "\n" + traceback.format_exc()
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
    record = record.model_copy(update={"seconds": round(time.perf_counter() - started, 4)})
    return Outcome(task.item.item_id, record=record)


class LocalExecutor:
    name = "local"

    def __init__(self, debug: bool = False) -> None:
        self.debug = debug

    def run_batch(self, spec: StageSpec, cfg: StageConfig, tasks: list[Task]) -> list[Outcome]:
        return [run_one(spec, cfg, task, self.debug) for task in tasks]
