"""Executors run a stage function over a batch of items. Stages never know which one runs them."""

from pipelines.executors.local import LocalExecutor, Outcome, WorkItem

__all__ = ["LocalExecutor", "Outcome", "WorkItem"]
