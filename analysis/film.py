"""Film-task tables: measured shots beside annotated shots, and the film exam.

An annotation (``labels.shots`` of a film manifest row, or a CineScale/MovieShots-style CSV
read by ``pipelines/datasets``) gives shots as time spans with a scale and/or a camera
movement. A measured shot (a ``measure_visuals`` record's ``shots``) is matched to the
annotated shot that contains its **midpoint**; so is the other way round: every annotated
shot is scored, against the measured shot covering its own midpoint, and an annotated shot
whose midpoint no measured shot covers is scored as missing (never dropped).

The exam (``analyse_film``, graded by ``grade_analysis``, audited by ``audit_claims``):
``exam_shots`` (per clip, student and shot asked: annotated, measured, answered),
``exam_table`` (per clip and student), ``exam_metrics`` (per student, each number with its
interval, n and a constant-answer baseline with its interval), ``exam_audit`` (the audit's
rates per student), ``genre_scores`` and ``marks_distribution``. ``m2t report`` shows them.
Gold labels are the dataset manifest's (``labels.genres``, ``labels.budget``,
``labels.shots``), as the run kept its items.
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


CRITERIA = ("observations", "evidence", "interpretation", "overall")
MARK_RANGE = (1.0, 5.0)
MEASUREMENT = "(measurement)"
SHOT_FIELDS = {"scale": "shot_scale", "movement": "camera_movement"}
EXAM_METRIC_COLUMNS = ["student", "metric", "value", "low", "high", "n", "method", "small_n", "baseline",
                       "baseline_low", "baseline_high", "baseline_name", "baseline_from"]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _gold(run: Any) -> dict[str, dict[str, Any]]:
    """Per item the gold labels as the exam compares them: genres case-folded (a manifest may
    write ``Drama``, the answers are the task's lower-case names), the budget band case-folded
    when it is one of the run's task labels (else ``None``: an amount without a band is not
    banded here), the annotated shots, the split and the title."""
    bands = [str(b) for b in (run.manifest.get("task_spec") or {}).get("labels") or []]
    out = {}
    for row in run.items.to_dict("records"):
        labels = (row["item"] or {}).get("labels") or {}
        genres = labels.get("genres") or []
        genres = [genres] if isinstance(genres, str) else genres
        band = labels.get("budget")
        band = None if _missing(band) or str(band).strip() == "" else str(band).strip().casefold()
        out[row["item_id"]] = {
            "genres": sorted({str(g).strip().casefold() for g in genres if str(g).strip()}),
            "budget": band if not bands or band in bands else None,
            "shots": labels.get("shots") or [], "split": row.get("split"), "title": row.get("title") or ""}
    return out


def _at(shots: Sequence[Mapping[str, Any]], time_s: float) -> Mapping[str, Any]:
    return next((s for s in shots if s["start_s"] <= time_s < s["end_s"]), {})


def exam_shots(run: Any) -> pd.DataFrame:
    """One row per clip, student and shot asked (the measured shots the exam asked about):
    annotated, measured and answered scale and camera movement side by side. A student whose
    answer holds no entry for a shot (unreadable answer, ``unknown``) has ``None`` answered:
    a missing answer is wrong, never left out. The annotation is the annotated shot containing
    the measured shot's midpoint."""
    gold = _gold(run)
    rows = []
    for record in run["analyse_film"].to_dict("records"):
        item_id = record["item_id"]
        annotated = gold.get(item_id, {}).get("shots") or []
        asked = list(record.get("shots_asked") or [])
        for answer in record["answers"]:
            by_number = {int(s["shot"]): s for s in answer["shots"]}
            for k, shot in enumerate(asked, 1):
                middle = (shot["start_s"] + shot["end_s"]) / 2
                a, given = _at(annotated, middle), by_number.get(k, {})
                rows.append({"item_id": item_id, "student": answer["student"], "shot": k,
                             "start_s": shot["start_s"], "end_s": shot["end_s"],
                             "scale_annotated": a.get("shot_scale"), "scale_measured": shot.get("shot_scale"),
                             "scale_answered": given.get("shot_scale"),
                             "movement_annotated": a.get("camera_movement"),
                             "movement_measured": None if shot.get("camera_movement") in (None, "unknown")
                             else shot.get("camera_movement"),
                             "movement_answered": given.get("camera_movement")})
    return pd.DataFrame(rows, columns=["item_id", "student", "shot", "start_s", "end_s", "scale_annotated",
                                       "scale_measured", "scale_answered", "movement_annotated", "movement_measured",
                                       "movement_answered"])


def exam_table(run: Any) -> pd.DataFrame:
    """One row per clip and student of an ``analyse_film`` run: gold beside answered genres
    (and their Jaccard index), budget band, the shots asked, the share of them whose answered
    scale and movement equal the annotation and the measurement (over the shots that have one;
    a shot left unanswered counts as wrong), and the teacher's marks (``None``: not graded)."""
    gold = _gold(run)
    shots = exam_shots(run)
    graded = run.stages.get("grade_analysis", pd.DataFrame()).to_dict("records")
    grades = {(r["item_id"], g["student"]): g for r in graded for g in r["grades"]}
    rows = []
    for record in run["analyse_film"].to_dict("records"):
        item_id = record["item_id"]
        clip = gold.get(item_id, {})
        for answer in record["answers"]:
            mine = shots[(shots.item_id == item_id) & (shots.student == answer["student"])]

            def share(what: str, reference: str) -> float | None:
                known = mine[mine[f"{what}_{reference}"].notna()]
                return float((known[f"{what}_answered"] == known[f"{what}_{reference}"]).mean()) if len(known) else None

            grade = grades.get((item_id, answer["student"]), {})
            scores = grade.get("scores") or {}
            rows.append({
                "item_id": item_id, "title": clip.get("title", ""), "student": answer["student"],
                "model": answer["model"], "extraction": answer["extraction"],
                "genres_gold": list(clip.get("genres") or []), "genres": list(answer["genres"]),
                "genre_jaccard": jaccard(clip.get("genres") or [], answer["genres"]),
                "budget_gold": clip.get("budget"), "budget": answer["budget"],
                "shots": len(mine), "shots_answered": int(mine.scale_answered.notna().sum()),
                "scale_vs_annotated": share("scale", "annotated"), "scale_vs_measured": share("scale", "measured"),
                "movement_vs_annotated": share("movement", "annotated"),
                "movement_vs_measured": share("movement", "measured"),
                **{c: scores.get(c) for c in CRITERIA[:-1]}, "overall": grade.get("overall"),
                "graded": grade.get("extraction"), "analysis": answer["analysis"],
            })
    return pd.DataFrame(rows)


def _resampled(name: str, statistic: Any, n: int, bounds: tuple[float, float] = (0.0, 1.0), *,
               confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> metrics.Estimate:
    """``statistic(indices)`` over n clips with SciPy's percentile bootstrap resampling the
    clips; where it cannot vary (one clip, every resample equal) the metric's whole range, as
    :mod:`analysis.metrics` does: a point would claim more than the data say."""
    import warnings

    import numpy as np
    from scipy.stats import bootstrap

    if n == 0:
        raise ValueError(f"{name}: no items")
    index = np.arange(n)
    value = float(statistic(index))
    low = high = float("nan")
    if n > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a degenerate resample distribution: the range below
            result = bootstrap((index,), statistic, vectorized=False, confidence_level=confidence,
                               n_resamples=resamples, method="percentile", random_state=np.random.default_rng(seed))
        low, high = (float(x) for x in result.confidence_interval)
    if low != low or high != high or low == high:
        return metrics.Estimate(name, value, bounds[0], bounds[1], n, confidence, "range")
    return metrics.Estimate(name, value, low, high, n, confidence, "bootstrap")


def genre_f1(gold: Sequence[Iterable[str]], answered: Sequence[Iterable[str]], name: str = "genre F1 (micro)",
             **kwargs: Any) -> metrics.Estimate:
    """Micro-averaged F1 of multi-label genre answers: true positives, false positives and
    false negatives pooled over the clips, ``2 TP / (2 TP + FP + FN)`` (scikit-learn's
    ``f1_score(average="micro")``, 0 where nothing is named; checked against it in the tests),
    so a clip with three genres weighs more than one with one; with a bootstrap interval
    resampling clips (a clip's genres are not independent draws)."""
    import numpy as np

    pairs = [(set(g), set(a)) for g, a in zip(gold, answered, strict=True)]
    tp = np.array([len(g & a) for g, a in pairs], dtype=float)
    wrong = np.array([len(a - g) + len(g - a) for g, a in pairs], dtype=float)

    def statistic(i: Any) -> float:
        denominator = 2 * tp[i].sum() + wrong[i].sum()
        return float(2 * tp[i].sum() / denominator) if denominator else 0.0

    return _resampled(name, statistic, len(pairs), **kwargs)


def _reference(gold: dict[str, dict[str, Any]], key: str, evaluated: Iterable[str]) -> tuple[list[Any], str]:
    """What a constant-answer baseline is taken from: the train split's labels of ``key`` when
    any train clip has them (a student could have learnt them), else those of the evaluated
    clips themselves (the best constant answer in hindsight: it knows these clips' labels)."""
    train = [v[key] for v in gold.values() if v.get("split") == "train" and v.get(key)]
    if train:
        return train, f"train split (n={len(train)})"
    own = [gold[i][key] for i in evaluated if i in gold and gold[i].get(key)]
    return own, f"the evaluated clips' own labels (n={len(own)}; no train split: the best constant in hindsight)"


def exam_metrics(run: Any) -> pd.DataFrame:
    """Per student: budget accuracy, genre F1 (micro) and Jaccard, shot-scale and
    camera-movement accuracy of the answers against the annotations and their agreement with
    the measurement, and the mean mark per rubric criterion; per the measurement
    (:data:`MEASUREMENT`): its accuracy against the same annotations. Each with its 95 %
    interval and n (budget: :func:`analysis.metrics.accuracy`, Wilson below ``SMALL_N``; shots:
    :func:`analysis.metrics.proportion` resampling clips, never narrower than Wilson; F1 and
    means: bootstrap over clips, the whole range where it cannot vary; never a point), ``small_n`` below
    ``metrics.SMALL_N``, beside a baseline with its interval: answering one constant (the
    majority band / genre / scale / movement of the reference, :func:`_reference`). Marks
    have no constant baseline: the students are compared paired (one row per other student,
    the per-clip difference of marks against the first student)."""
    gold = _gold(run)
    table, shots = exam_table(run), exam_shots(run)
    rows: list[dict[str, Any]] = []

    def add(student: str, name: str, estimate: metrics.Estimate, baseline: metrics.Estimate | None = None,
            baseline_name: str | None = None, source: str | None = None) -> None:
        rows.append({"student": student, "metric": name, "value": estimate.value, "low": estimate.low,
                     "high": estimate.high, "n": estimate.n, "method": estimate.method, "small_n": estimate.small_n,
                     "baseline": None if baseline is None else baseline.value,
                     "baseline_low": None if baseline is None else baseline.low,
                     "baseline_high": None if baseline is None else baseline.high,
                     "baseline_name": baseline_name, "baseline_from": source})

    def shot_share(student: str, name: str, frame: pd.DataFrame, column: str, reference: str, what: str) -> None:
        """The share of ``frame``'s shots whose ``column`` equals ``reference`` (shots without a
        reference left out), resampled by clip, beside always answering the majority
        ``reference`` value of the train split's annotated shots (annotations only), else of
        these shots themselves."""
        known = frame[frame[reference].notna()]
        if known.empty:
            return
        truth = list(known[reference])
        train = [] if not reference.endswith("_annotated") else [
            s.get(SHOT_FIELDS[what]) for v in gold.values() if v.get("split") == "train" for s in v["shots"]
            if s.get(SHOT_FIELDS[what])]
        source = f"train split shots (n={len(train)})" if train else (
            f"the evaluated shots' own {reference.split('_')[1]} {what}s (n={len(truth)}; the best constant in "
            "hindsight)")
        top = metrics.majority_label(train or truth)
        clips = list(known.item_id)
        right = [_same(a, t) for a, t in zip(known[column], truth)]
        add(student, name, metrics.proportion(right, name, clusters=clips),
            metrics.proportion([top == t for t in truth], "baseline", clusters=clips), f"always {top!r}", source)

    students = sorted(table.student.unique()) if len(table) else []
    clips = sorted(set(table.item_id)) if len(table) else []
    budget_ref, budget_from = _reference(gold, "budget", clips)
    genre_ref, genre_from = _reference(gold, "genres", clips)
    top_band = metrics.majority_label(budget_ref) if budget_ref else None
    top_genre = metrics.majority_label([g for gs in genre_ref for g in gs]) if genre_ref else None
    for student in students:
        part = table[table.student == student]
        budget = part[part.budget_gold.notna()]
        if len(budget) and top_band is not None:
            answered = [None if _missing(b) else b for b in budget.budget]
            add(student, "budget accuracy", metrics.accuracy(list(budget.budget_gold), answered),
                metrics.accuracy(list(budget.budget_gold), [top_band] * len(budget)), f"always {top_band!r}",
                budget_from)
        genres = part[part.genres_gold.map(bool)]
        if len(genres) and top_genre is not None:
            add(student, "genre F1 (micro)", genre_f1(list(genres.genres_gold), list(genres.genres)),
                genre_f1(list(genres.genres_gold), [[top_genre]] * len(genres)), f"always {top_genre!r}", genre_from)
            add(student, "genre Jaccard", metrics.mean(list(genres.genre_jaccard), "genre Jaccard", bounds=(0.0, 1.0)),
                metrics.mean([jaccard(g, [top_genre]) for g in genres.genres_gold], "baseline", bounds=(0.0, 1.0)),
                f"always {top_genre!r}", genre_from)
        mine = shots[shots.student == student]
        for what in SHOT_FIELDS:
            shot_share(student, f"{what} accuracy (answered)", mine, f"{what}_answered", f"{what}_annotated", what)
            shot_share(student, f"{what} agreement (answered = measured)", mine, f"{what}_answered",
                       f"{what}_measured", what)
        for criterion in CRITERIA:
            marks = [m for m in part[criterion] if not _missing(m)]
            if marks:
                add(student, f"mark: {criterion}", metrics.mean(marks, criterion, bounds=MARK_RANGE), None,
                    "none: a mark has no constant answer" + ("; the students compared paired below"
                                                             if len(students) > 1 else ""))
    if students:  # the measurement against the same annotations (the same shots for every student)
        first = shots[shots.student == students[0]]
        for what in SHOT_FIELDS:
            shot_share(MEASUREMENT, f"{what} accuracy (measured)", first, f"{what}_measured", f"{what}_annotated",
                       what)
    for other in students[1:]:  # marks: each other student against the first, on the clips both were graded
        for criterion in CRITERIA:
            a = table[table.student == students[0]].set_index("item_id")[criterion]
            b = table[table.student == other].set_index("item_id")[criterion]
            both = [i for i in a.index.intersection(b.index) if not _missing(a[i]) and not _missing(b[i])]
            if both:
                add(f"{other} − {students[0]} (paired)", f"mark: {criterion}",
                    metrics.mean([float(b[i]) - float(a[i]) for i in both], f"{criterion} difference",
                                 bounds=(MARK_RANGE[0] - MARK_RANGE[1], MARK_RANGE[1] - MARK_RANGE[0])),
                    None, "none: this difference is the comparison")
    return pd.DataFrame(rows, columns=EXAM_METRIC_COLUMNS)


def _same(answered: Any, truth: Any) -> bool:
    return not _missing(answered) and answered == truth


def exam_audit(run: Any) -> pd.DataFrame:
    """The audit of the students' analyses per student (``analysis.audit.rates`` by student over
    the ``analyse_film`` claims, with its ``all`` row), then the paired per-clip difference of
    ``analysis.audit.compare_students`` when the run has two students or more; every interval
    as ``<name>_low`` / ``<name>_high`` columns. Empty without ``audit_claims`` records of the
    analyses."""
    from analysis import audit

    claims = audit.run_claims(run)
    analyses = claims[claims.student.notna()] if len(claims) else claims
    if analyses.empty:
        return pd.DataFrame()
    table = audit.rates(analyses, by="student")
    compared = audit.compare_students(analyses)
    if len(compared) and "student" in compared:
        paired = compared[compared.student.astype(str).str.endswith("(paired)")]
        table = pd.concat([table, paired], ignore_index=True)
    return _split_intervals(table)


def _split_intervals(table: pd.DataFrame) -> pd.DataFrame:
    """``x_ci`` columns holding ``(low, high)`` as ``x_low`` and ``x_high`` beside ``x``."""
    out = table.copy()
    for col in [c for c in table.columns if str(c).endswith("_ci")]:
        base = str(col)[: -len("_ci")]
        pairs = [v if isinstance(v, (tuple, list)) and len(v) == 2 else (None, None) for v in out[col]]
        at = list(out.columns).index(col)
        out = out.drop(columns=[col])
        out.insert(at, f"{base}_low", [p[0] for p in pairs])
        out.insert(at + 1, f"{base}_high", [p[1] for p in pairs])
    return out


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
