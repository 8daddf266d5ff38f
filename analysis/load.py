"""Runs as pandas DataFrames, for notebooks and reports.

``load_run(path)`` reads a run directory (records of every stage, errors, manifest, stats)
without importing any model library: one row per record, the provenance columns first, the
payload's scalar fields flattened, list and object fields kept as Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.store import RunStore

PROVENANCE = ["item_id", "stage", "stage_version", "key", "input_hash", "config_hash", "model",
              "prompt_id", "prompt_version", "created_at", "seconds"]


@dataclass
class RunData:
    path: Path
    manifest: dict[str, Any]
    stats: dict[str, Any]
    stages: dict[str, pd.DataFrame] = field(default_factory=dict)
    errors: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __getitem__(self, stage: str) -> pd.DataFrame:
        return self.stages[stage]

    def predictions(self, items: pd.DataFrame | None = None) -> pd.DataFrame:
        """The predict records, joined with gold labels when ``items`` (item_id, gold) is given."""
        frame = self.stages.get("predict", pd.DataFrame())
        if items is not None and not frame.empty:
            frame = frame.merge(items, on="item_id", how="left")
        return frame


def records_frame(records: list[Any]) -> pd.DataFrame:
    rows = [r.model_dump(mode="python") for r in records]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    first = [c for c in PROVENANCE if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def load_run(path: str | Path) -> RunData:
    """Everything a run directory holds, as DataFrames (see the module docstring)."""
    store = RunStore(Path(path))
    if not (store.dir / "manifest.json").is_file():
        raise FileNotFoundError(f"{path} is not a run directory (no manifest.json)")
    data = RunData(path=store.dir, manifest=store.read_manifest(), stats=store.read_stats())
    for stage in store.stages_with_records():
        data.stages[stage] = records_frame(store.current_records(stage))  # stale items left out
    errors = []
    for path_ in sorted(store.dir.glob("*.errors.jsonl")):
        errors += [e.model_dump(mode="python") for e in store.errors(path_.name.removesuffix(".errors.jsonl"))]
    data.errors = pd.DataFrame(errors)
    return data
