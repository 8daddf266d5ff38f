"""Film-task tables: measured shots beside annotated shots.

An annotation (``labels.shots`` of a film manifest row, or a CineScale/MovieShots-style CSV
read by ``pipelines/datasets``) gives shots as time spans with a scale and/or a camera
movement. A measured shot (a ``measure_visuals`` record's ``shots``) is matched to the
annotated shot that contains its **midpoint**; so is the other way round: every annotated
shot is scored, against the measured shot covering its own midpoint, and an annotated shot
whose midpoint no measured shot covers is scored as missing (never dropped).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from analysis import metrics

COLUMNS = ["item_id", "shot", "start_s", "end_s", "scale_annotated", "scale_measured",
           "movement_annotated", "movement_measured", "scale_basis", "flow_pairs"]


def _covering(shots: Sequence[Any], time_s: float) -> Any | None:
    return next((s for s in shots if s.start_s <= time_s < s.end_s), None)


def shots_table(visuals: Mapping[str, Any], annotations: Mapping[str, Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """One row per annotated shot: its annotation and what was measured at its midpoint.

    Args:
        visuals: item id → ``measure_visuals`` record (``VisualsRecord``).
        annotations: item id → annotated shots (``start_s``, ``end_s``, optional
            ``shot_scale`` and ``camera_movement``; ``None`` or absent: not annotated).
    """
    rows = []
    for item_id, shots in annotations.items():
        record = visuals.get(item_id)
        for k, shot in enumerate(shots):
            middle = (float(shot["start_s"]) + float(shot["end_s"])) / 2
            measured = _covering(record.shots, middle) if record is not None else None
            rows.append({
                "item_id": item_id, "shot": k, "start_s": shot["start_s"], "end_s": shot["end_s"],
                "scale_annotated": shot.get("shot_scale"), "scale_measured": getattr(measured, "shot_scale", None),
                "movement_annotated": shot.get("camera_movement"),
                "movement_measured": getattr(measured, "camera_movement", None),
                "scale_basis": getattr(measured, "scale_basis", None), "flow_pairs": getattr(measured, "flow_pairs", 0),
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def agreement(table: pd.DataFrame, what: str, labels: Iterable[str] | None = None
              ) -> tuple[metrics.Estimate, pd.DataFrame]:
    """Accuracy (with its bootstrap interval) and the confusion matrix of ``what`` (``scale``
    or ``movement``) over the annotated shots of ``table``."""
    annotated = table[table[f"{what}_annotated"].notna()]
    gold = list(annotated[f"{what}_annotated"])
    measured = [None if v is None or v != v else v for v in annotated[f"{what}_measured"]]
    estimate = metrics.accuracy(gold, measured)
    return estimate, metrics.confusion(gold, measured, labels=list(labels) if labels is not None else None)
