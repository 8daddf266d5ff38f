"""Runs as pandas DataFrames, for notebooks and reports.

``load_run(path)`` reads a run directory (records of every stage, items with their gold
labels, errors, manifest, stats) without importing any model library: one row per record, the
provenance columns first, the payload's scalar fields flattened, list and object fields kept as
Python objects. Records of items that left the dataset since (stale) are left out.

Beside ``run[stage]`` (any stage's records), a :class:`RunData` offers the tables a study
reads most: ``items``, ``predictions`` (gold beside predicted), ``hypotheses`` and
``neighbours`` (one row each), ``errors`` and ``timings``; ``messages(item_id)`` renders the
exact prompt a prediction was made from, from the run's own records (no model call).

A damaged run file (a truncated shard, garbage bytes) costs only its unreadable lines: they
are skipped with a warning naming the file and line, and listed in ``RunData.damaged``; only
an unreadable manifest stops ``load_run`` (``pipelines.store.DamagedRunError``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.records import ErrorRecord, UnknownRecordTypeError
from pipelines.store import Damage, RunStore

PROVENANCE = ["item_id", "stage", "stage_version", "key", "input_hash", "config_hash", "model",
              "prompt_id", "prompt_version", "created_at", "seconds"]
ERROR_COLUMNS = list(ErrorRecord.model_fields)  # also the columns of a run without errors
PREDICTION_COLUMNS = ["item_id", "split", "gold", "predicted", "correct", "confidence", "extraction", "explanation",
                      "grounded", "cited_hypotheses", "evidence", "evidence_found", "verifiable_share",
                      "explanation_flagged", "repairs_sent", "mode", "model", "prompt_id", "prompt_version"]


@dataclass
class RunData:
    """One run directory, loaded. ``task`` is the task whose labels are the gold column;
    ``damaged`` lists the unreadable parts of its files that loading skipped (empty for a sound
    run), each with its file, line and reason."""

    path: Path
    manifest: dict[str, Any]
    stats: dict[str, Any]
    stages: dict[str, pd.DataFrame] = field(default_factory=dict)
    errors: pd.DataFrame = field(default_factory=pd.DataFrame)
    items: pd.DataFrame = field(default_factory=pd.DataFrame)
    damaged: list[Damage] = field(default_factory=list)

    def __getitem__(self, stage: str) -> pd.DataFrame:
        if stage not in self.stages:
            raise KeyError(f"run {self.run_id} has no {stage!r} records (stages: {', '.join(self.stages) or 'none'})")
        return self.stages[stage]

    def __repr__(self) -> str:
        predicted = len(self.stages.get("predict", ()))
        damaged = f"; {len(self.damaged)} damaged file parts skipped (.damaged)" if self.damaged else ""
        return (f"<RunData {self.run_id}: {len(self.items)} items, {predicted} predictions, {len(self.errors)} errors, "
                f"stages {', '.join(self.stages) or 'none'}; status {self.manifest.get('status', '?')}{damaged}>")

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.path.name)

    @property
    def task(self) -> str:
        config = self.manifest.get("config") or {}
        return str(((config.get("stages") or {}).get("predict") or {}).get("task") or config.get("task") or "popularity")

    @property
    def label_key(self) -> str:
        """Where the items keep the task's gold label (the run manifest says; older runs: the
        task's name)."""
        return str((self.manifest.get("task_spec") or {}).get("label_key") or self.task)

    @property
    def labels(self) -> list[str]:
        """The task's label set as the run's items and predictions show it (sorted)."""
        seen = set(self.items.get("gold", pd.Series(dtype=object)).dropna())
        if "predict" in self.stages:
            seen |= set(self.stages["predict"]["label"].dropna())
        return sorted(str(x) for x in seen)

    @property
    def task_labels(self) -> list[str]:
        """The labels macro-averaged metrics run over: the task's own (the run manifest says),
        so that a class missing from a small test set still counts; the labels the run shows
        (:attr:`labels`) for runs written before manifests named them, or when gold labels lie
        outside the task's."""
        named = [str(x) for x in (self.manifest.get("task_spec") or {}).get("labels") or []]
        return named if named and set(self.labels) <= set(named) else self.labels

    @property
    def predictions(self) -> pd.DataFrame:
        """One row per prediction: gold beside predicted (``correct`` is ``None`` without gold)."""
        frame = self.stages.get("predict")
        if frame is None or frame.empty:
            return pd.DataFrame(columns=PREDICTION_COLUMNS)
        out = frame.rename(columns={"label": "predicted"})
        items = self.items[["item_id", "split", "gold"]] if not self.items.empty else pd.DataFrame(
            columns=["item_id", "split", "gold"])
        out = out.merge(items, on="item_id", how="left")
        out["correct"] = [None if pd.isna(g) else p == g for g, p in zip(out["gold"], out["predicted"])]
        if "repairs" in out.columns:  # how many times the explanation went back (predict's explanation check)
            out["repairs_sent"] = [len(r) if hasattr(r, "__len__") and not isinstance(r, str) else 0
                                   for r in out["repairs"]]
        return out[[c for c in PREDICTION_COLUMNS if c in out.columns]].reset_index(drop=True)

    @property
    def hypotheses(self) -> pd.DataFrame:
        """One row per hypothesis, usable and degenerate (``usable`` tells them apart)."""
        frame = self.stages.get("hypothesize")
        rows = []
        for record in [] if frame is None else frame.to_dict("records"):
            for usable, key in ((True, "hypotheses"), (False, "degenerate")):
                for h in record.get(key) or []:
                    rows.append({"item_id": record["item_id"], "usable": usable, "number": h["number"],
                                 "statement": h["text"], "favours": h.get("favours"), "based_on": h.get("based_on", []),
                                 "problems": h.get("problems", [])})
        return pd.DataFrame(rows, columns=["item_id", "usable", "number", "statement", "favours", "based_on",
                                           "problems"])

    @property
    def neighbours(self) -> pd.DataFrame:
        """One row per retrieved neighbour: rank 1 is the most similar."""
        frame = self.stages.get("retrieve_similar")
        rows = []
        for record in [] if frame is None else frame.to_dict("records"):
            for rank, n in enumerate(record.get("neighbours") or [], 1):
                rows.append({"item_id": record["item_id"], "rank": rank, "neighbour_id": n["item_id"],
                             "score": n["score"], "label": n.get("label")})
        return pd.DataFrame(rows, columns=["item_id", "rank", "neighbour_id", "score", "label"])

    @property
    def timings(self) -> pd.DataFrame:
        """Per stage: records, the seconds they cost when computed (summed from the records, so
        a resumed or cached stage keeps what it cost), seconds per record, and the wall seconds
        of the latest attempt (``stats.json``)."""
        last = self.stats.get("stages") or {}
        rows = []
        for name, frame in self.stages.items():
            seconds = float(frame["seconds"].fillna(0).sum()) if "seconds" in frame else 0.0
            rows.append({"stage": name, "records": len(frame), "seconds": round(seconds, 4),
                         "seconds_per_record": round(seconds / len(frame), 4) if len(frame) else None,
                         "last_attempt_seconds": (last.get(name) or {}).get("seconds")})
        order = list(last) + [n for n in self.stages if n not in last]
        frame = pd.DataFrame(rows, columns=["stage", "records", "seconds", "seconds_per_record", "last_attempt_seconds"])
        return frame.set_index("stage").reindex([n for n in order if n in self.stages]).reset_index()

    def messages(self, item_id: str, stage: str = "predict") -> list[tuple[str, str]]:
        """The exact messages ``stage`` sent for ``item_id``, rendered from this run's records
        with the run's resolved config (the prompt files of this checkout; no model is called);
        a stage that sends an item several requests gives every request's messages, one after
        the other, as ``m2t render`` prints them.
        Imports the engine's config and stage code lazily (not any model library).

        Raises:
            KeyError: the item is not in the run.
            ValueError: the stage sends no prompt, was not in the run, does not apply to the
                item (predict: a train item), or the item lacks an upstream record the prompt
                is made of (it failed there); the message says which.
        """
        from pipelines.config import validate_config
        from pipelines.records import Item
        from pipelines.render import render_requests, upstream_records
        from pipelines.stages import get_stage

        cfg = validate_config(self.manifest["config"])
        spec = get_stage(stage)
        if spec.render is None:
            raise ValueError(f"stage {stage!r} sends no prompt")
        if stage not in cfg.stages:
            raise ValueError(f"run {self.run_id} has no {stage} stage (stages: {', '.join(cfg.stages)})")
        rows = self.items[self.items["item_id"] == item_id] if not self.items.empty else self.items
        if rows.empty:
            known = ", ".join(self.items["item_id"].head(5)) if not self.items.empty else "none"
            raise KeyError(f"no item {item_id!r} in run {self.run_id} ({len(self.items)} items: {known}"
                           f"{', ...' if len(self.items) > 5 else ''})")
        item = Item.model_validate({k: v for k, v in rows.iloc[0]["item"].items()})
        stage_cfg = cfg.stage_config(stage)
        if not spec.applies_to(item, stage_cfg):
            splits = getattr(stage_cfg, "splits", None)
            where = f" (it applies to the {' and '.join(splits)} split{'s' if len(splits) > 1 else ''})" if splits else ""
            raise ValueError(f"{stage} sent no prompt for item {item_id!r} of the {item.split or 'unnamed'} split in "
                             f"run {self.run_id}{where}")
        store = RunStore(self.path)
        records = upstream_records(store, spec, cfg.stages)
        upstream = {u: records[u][item_id] for u in records if item_id in records[u]}
        missing = [u for u in (*spec.needs, *spec.uses) if u in cfg.stages and u not in upstream
                   and get_stage(u).applies_to(item, cfg.stage_config(u))]
        if missing:
            raise ValueError(f"item {item_id!r} has no {', '.join(missing)} record in run {self.run_id}, so its {stage} "
                             f"prompt cannot be rendered (it failed there: see run.errors)")
        return [message for request in render_requests(spec, item, stage_cfg, upstream) for message in request]


def records_frame(records: list[Any]) -> pd.DataFrame:
    rows = [r.model_dump(mode="python") for r in records]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    first = [c for c in PROVENANCE if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def items_frame(items: list[dict[str, Any]] | None, ids: set[str] | None, label_key: str) -> pd.DataFrame:
    """One row per item: id, split, gold label (``labels[label_key]``), title, metadata and the
    whole item."""
    if items is None:  # a run written before items were kept: ids only
        items = [{"item_id": i} for i in sorted(ids or ())]
    rows = [{"item_id": i["item_id"], "split": i.get("split"), "gold": (i.get("labels") or {}).get(label_key),
             "title": i.get("title", ""), "metadata": i.get("metadata") or {}, "item": i} for i in items]
    return pd.DataFrame(rows, columns=["item_id", "split", "gold", "title", "metadata", "item"])


def load_run(path: str | Path) -> RunData:
    """Everything a run directory holds, as DataFrames (see the module docstring).

    Raises:
        FileNotFoundError: ``path`` holds no manifest.json.
        pipelines.store.DamagedRunError: its manifest is unreadable (the message names it).
    """
    store = RunStore(Path(path))
    if not (store.dir / "manifest.json").is_file():
        raise FileNotFoundError(f"{path} is not a run directory (no manifest.json)")
    data = RunData(path=store.dir, manifest=store.read_manifest(), stats=store.read_stats())
    for stage in store.stages_with_records():
        try:
            records = store.current_records(stage)  # stale items left out
        except UnknownRecordTypeError as exc:  # a plug-in stage's records: import its module to read them
            warnings.warn(str(exc), stacklevel=2)
            continue
        if records:  # none readable (every shard damaged) or all stale: as if the stage had none
            data.stages[stage] = records_frame(records)
    errors = []
    for path_ in sorted(store.dir.glob("*.errors.jsonl")):
        errors += [e.model_dump(mode="python") for e in store.errors(path_.name.removesuffix(".errors.jsonl"))]
    data.errors = pd.DataFrame(errors, columns=ERROR_COLUMNS)
    data.items = items_frame(store.items(), store.item_ids(), data.label_key)
    data.damaged = list(store.damaged)
    return data


def load_runs(paths: list[str | Path]) -> dict[str, RunData]:
    """Several runs by run id (in the order given)."""
    runs = [load_run(p) for p in paths]
    return {run.run_id: run for run in runs}
