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


def jaccard(gold: Iterable[str], predicted: Iterable[str]) -> float | None:
    """|G ∩ P| / |G ∪ P| of two genre sets; ``None`` when the item has no gold genres."""
    g, p = set(gold), set(predicted)
    return len(g & p) / len(g | p) if g else None


def _item_labels(run: Any) -> dict[str, dict[str, Any]]:
    return {row["item_id"]: (row["item"] or {}).get("labels") or {} for row in run.items.to_dict("records")}


def exam_table(run: Any) -> pd.DataFrame:
    """One row per clip and student of an ``analyse_film`` run: gold beside answered genres
    (and their Jaccard index), budget band, the share of shots whose answered scale and
    movement equal the annotation and the measurement, and the teacher's marks."""
    labels = _item_labels(run)
    visuals = {r["item_id"]: r for r in run.stages.get("measure_visuals", pd.DataFrame()).to_dict("records")}
    grades = {(r["item_id"], g["student"]): g for r in run.stages.get("grade_analysis", pd.DataFrame()).to_dict("records")
              for g in r["grades"]}
    rows = []
    for record in run["analyse_film"].to_dict("records"):
        item_id = record["item_id"]
        gold = labels.get(item_id, {})
        annotated = gold.get("shots") or []
        measured = (visuals.get(item_id) or {}).get("shots") or []
        for answer in record["answers"]:
            shots = answer["shots"]
            middle = [(s["start_s"] + s["end_s"]) / 2 for s in shots]
            truth = [next((a for a in annotated if a["start_s"] <= t < a["end_s"]), {}) for t in middle]
            meas = [next((m for m in measured if m["start_s"] <= t < m["end_s"]), {}) for t in middle]

            def share(key: str, reference: list[dict[str, Any]], field: str) -> float | None:
                pairs = [(s[key], r.get(field)) for s, r in zip(shots, reference) if r.get(field)]
                return sum(a == b for a, b in pairs) / len(pairs) if pairs else None

            grade = grades.get((item_id, answer["student"]), {})
            rows.append({
                "item_id": item_id, "student": answer["student"], "model": answer["model"],
                "extraction": answer["extraction"],
                "genres_gold": list(gold.get("genres") or []), "genres": answer["genres"],
                "genre_jaccard": jaccard(gold.get("genres") or [], answer["genres"]),
                "budget_gold": gold.get("budget"), "budget": answer["budget"],
                "shots": len(shots),
                "scale_vs_annotated": share("shot_scale", truth, "shot_scale"),
                "scale_vs_measured": share("shot_scale", meas, "shot_scale"),
                "movement_vs_annotated": share("camera_movement", truth, "camera_movement"),
                "movement_vs_measured": share("camera_movement", meas, "camera_movement"),
                "observations": (grade.get("scores") or {}).get("observations"),
                "evidence": (grade.get("scores") or {}).get("evidence"),
                "interpretation": (grade.get("scores") or {}).get("interpretation"),
                "overall": grade.get("overall"), "analysis": answer["analysis"],
            })
    return pd.DataFrame(rows)


def exam_shots(run: Any) -> pd.DataFrame:
    """One row per clip, student and shot asked: annotated, measured and answered scale and
    camera movement side by side."""
    labels = _item_labels(run)
    visuals = {r["item_id"]: r for r in run.stages.get("measure_visuals", pd.DataFrame()).to_dict("records")}
    rows = []
    for record in run["analyse_film"].to_dict("records"):
        annotated = labels.get(record["item_id"], {}).get("shots") or []
        measured = (visuals.get(record["item_id"]) or {}).get("shots") or []
        for answer in record["answers"]:
            for s in answer["shots"]:
                t = (s["start_s"] + s["end_s"]) / 2
                a = next((x for x in annotated if x["start_s"] <= t < x["end_s"]), {})
                m = next((x for x in measured if x["start_s"] <= t < x["end_s"]), {})
                rows.append({"item_id": record["item_id"], "student": answer["student"], "shot": s["shot"],
                             "start_s": s["start_s"], "end_s": s["end_s"],
                             "scale_annotated": a.get("shot_scale"), "scale_measured": m.get("shot_scale"),
                             "scale_answered": s["shot_scale"], "movement_annotated": a.get("camera_movement"),
                             "movement_measured": m.get("camera_movement"),
                             "movement_answered": s["camera_movement"]})
    return pd.DataFrame(rows)


def exam_metrics(run: Any) -> pd.DataFrame:
    """Per student: budget accuracy, genre Jaccard, shot-scale and camera-movement accuracy
    (answered vs annotated, and the measurement vs the same annotations), and the mean mark
    per rubric criterion — each with its 95 % bootstrap interval and n, beside a baseline
    (the majority band / genre set / scale / movement of the clips themselves, which a
    student could not know: an upper bound for constant answering)."""
    table, shots = exam_table(run), exam_shots(run)
    rows = []

    def add(student: str, name: str, estimate: metrics.Estimate | None, baseline: metrics.Estimate | None) -> None:
        if estimate is None:
            return
        rows.append({"student": student, "metric": name, "value": estimate.value, "low": estimate.low,
                     "high": estimate.high, "n": estimate.n,
                     "baseline": None if baseline is None else baseline.value,
                     "baseline_name": None if baseline is None else baseline.name})

    def safe(fn: Any, *args: Any, **kwargs: Any) -> metrics.Estimate | None:
        try:
            return fn(*args, **kwargs)
        except ValueError:  # no items with that annotation
            return None

    for student, part in table.groupby("student", sort=True):
        budget = part[part.budget_gold.notna()]
        if len(budget):
            add(student, "budget accuracy", metrics.accuracy(list(budget.budget_gold), list(budget.budget)),
                metrics.majority_baseline(list(budget.budget_gold), list(budget.budget_gold)))
        genres = part[part.genre_jaccard.notna()]
        if len(genres):
            top = metrics.majority_label([g for gs in genres.genres_gold for g in gs])
            add(student, "genre Jaccard", metrics.mean(list(genres.genre_jaccard), "genre Jaccard"),
                metrics.mean([jaccard(g, [top]) for g in genres.genres_gold], f"always {top!r}"))
        sub = shots[shots.student == student]
        for what in ("scale", "movement"):
            known = sub[sub[f"{what}_annotated"].notna()]
            if len(known):
                gold = list(known[f"{what}_annotated"])
                add(student, f"{what} accuracy (answered)", metrics.accuracy(gold, list(known[f"{what}_answered"])),
                    metrics.majority_baseline(gold, gold))
                add(student, f"{what} accuracy (measured)", metrics.accuracy(gold, list(known[f"{what}_measured"])),
                    None)
        for criterion in ("observations", "evidence", "interpretation", "overall"):
            add(student, f"mark: {criterion}", safe(metrics.mean, list(part[criterion]), criterion), None)
    return pd.DataFrame(rows, columns=["student", "metric", "value", "low", "high", "n", "baseline", "baseline_name"])


def genre_scores(run: Any) -> pd.DataFrame:
    """Per student and genre: precision, recall, F1 and support of the answered genres
    (multi-label, scikit-learn's definitions; genres nobody answered or annotated left out)."""
    from sklearn.metrics import precision_recall_fscore_support
    from sklearn.preprocessing import MultiLabelBinarizer

    table = exam_table(run)
    rows = []
    for student, part in table.groupby("student", sort=True):
        part = part[part.genres_gold.map(bool)]
        if part.empty:
            continue
        binarizer = MultiLabelBinarizer()
        binarizer.fit(list(part.genres_gold) + list(part.genres))
        gold, answered = binarizer.transform(part.genres_gold), binarizer.transform(part.genres)
        precision, recall, f1, support = precision_recall_fscore_support(gold, answered, zero_division=0)
        for k, genre in enumerate(binarizer.classes_):
            rows.append({"student": student, "genre": genre, "precision": precision[k], "recall": recall[k],
                         "f1": f1[k], "support": int(support[k]), "answered": int(answered[:, k].sum())})
    return pd.DataFrame(rows, columns=["student", "genre", "precision", "recall", "f1", "support", "answered"])


def marks_distribution(run: Any) -> pd.DataFrame:
    """How often each mark (1..5) was given, per student and criterion (the teacher's spread:
    a judge that gives everything a 4 tells nothing)."""
    table = exam_table(run)
    rows = []
    for student, part in table.groupby("student", sort=True):
        for criterion in ("observations", "evidence", "interpretation", "overall"):
            marks = [int(m) for m in part[criterion] if m is not None and m == m]
            rows.append({"student": student, "criterion": criterion,
                         **{str(mark): marks.count(mark) for mark in range(1, 6)}, "n": len(marks)})
    return pd.DataFrame(rows, columns=["student", "criterion", "1", "2", "3", "4", "5", "n"])
