"""Modality ablations as a table: runs of one config that differ only in
``summarize.ablation`` (what the text representation leaves out), compared with the full run.

Per variant: the switches set, the accuracy and macro-F1 with their 95 % intervals, n, and
how many predictions flip against the full run on the items both predicted — the question at
the centre of both case studies: does the model use what a modality tells it?
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def ablation_of(run: Any) -> dict[str, str]:
    """The run's ablation switches away from ``keep`` (empty: the full text)."""
    stages = (run.manifest.get("config") or {}).get("stages") or {}
    switches = (stages.get("summarize") or {}).get("ablation") or {}
    return {k: v for k, v in switches.items() if v != "keep"}


def variant_name(switches: dict[str, str]) -> str:
    return "full" if not switches else ", ".join(f"{k}={v}" for k, v in sorted(switches.items()))


def ablation_table(runs: list[Any]) -> pd.DataFrame:
    """One row per run (the full run first), with the majority baseline as the last row.

    Raises:
        ValueError: When no run is the full one (no ablation switch set).
    """
    from analysis import metrics

    full = [r for r in runs if not ablation_of(r)]
    if not full:
        raise ValueError("no full run among these (every run has an ablation switch set)")
    reference = full[0].predictions.set_index("item_id")["predicted"]
    ordered = full[:1] + [r for r in runs if ablation_of(r)]
    rows = []
    for run in ordered:
        preds = run.predictions.dropna(subset=["gold"])
        row: dict[str, Any] = {"variant": variant_name(ablation_of(run)), "run_id": run.run_id, "n": len(preds)}
        if not preds.empty:
            gold, predicted = preds["gold"].tolist(), preds["predicted"].tolist()
            for name, estimate in (("accuracy", metrics.accuracy(gold, predicted)),
                                   ("macro_f1", metrics.macro_f1(gold, predicted, labels=run.task_labels))):
                row.update({name: estimate.value, f"{name}_low": estimate.low, f"{name}_high": estimate.high})
        mine = run.predictions.set_index("item_id")["predicted"]
        common = sorted(set(mine.index) & set(reference.index))
        row["flips"] = sum(mine[i] != reference[i] for i in common) if run is not full[0] else 0
        row["compared"] = len(common)
        rows.append(row)
    preds = full[0].predictions.dropna(subset=["gold"])
    if not preds.empty:
        gold = preds["gold"].tolist()
        train = full[0].items[full[0].items["split"] == "train"]["gold"].dropna().tolist()
        base = metrics.majority_baseline(train or gold, gold)
        rows.append({"variant": base.name, "run_id": None, "n": base.n, "accuracy": base.value,
                     "accuracy_low": base.low, "accuracy_high": base.high})
    return pd.DataFrame(rows, columns=["variant", "run_id", "n", "accuracy", "accuracy_low", "accuracy_high",
                                       "macro_f1", "macro_f1_low", "macro_f1_high", "flips", "compared"])


def related_runs(run: Any, candidates: list[Any]) -> list[Any]:
    """``run`` and the candidates made from the same config but for ``summarize.ablation``
    (same dataset, stages and models), for :func:`ablation_table`."""

    def without_ablation(r: Any) -> Any:
        config = dict(r.manifest.get("config") or {})
        stages = {k: dict(v or {}) for k, v in (config.get("stages") or {}).items()}
        stages.get("summarize", {}).pop("ablation", None)
        return {**config, "stages": stages}

    key = without_ablation(run)
    return [run] + [c for c in candidates if c.run_id != run.run_id and without_ablation(c) == key]
