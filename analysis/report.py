"""The report of one or more runs: one self-contained HTML file a reviewer opens offline,
and the same metrics table as CSV and Markdown, with every prediction as CSV.

``write_report(runs, out_dir)`` writes into ``out_dir``:

* ``report.html`` — per run what it is (config, models, status, counts), the metrics with
  their 95 % intervals beside the majority-class baseline, the confusion matrix, calibration
  (ECE and the reliability table), the time per stage, plots embedded as PNG data URIs, and
  one section per predicted item: its sampled frames as small embedded JPEGs, the text
  representation, neighbours, hypotheses and the prediction with its evidence;
* ``metrics.csv`` / ``metrics.md`` — one row per run and metric (run_id, metric, value, low,
  high, n, and the baseline: the same metric of always answering the majority label, with its
  interval, that label, and where it was taken from);
* ``predictions.csv`` — every run's :attr:`~analysis.load.RunData.predictions` with a run_id;
* for runs with a film exam (``analyse_film``), its section in ``report.html`` — the exam's
  metrics per student with intervals beside constant-answer baselines, the teacher's marks,
  the audit per student, and per clip the shots as measured and as answered, the genres and
  budget beside the gold ones — and the same tables as ``exam_metrics.csv`` (and ``.md``),
  ``exam_clips.csv``, ``exam_shots.csv``, ``exam_marks.csv`` and ``exam_audit.csv``, each
  with a run_id (written only when a run has an exam; :func:`exam_tables`).

Everything that comes from a run (titles, transcripts, hypotheses, model output) is untrusted:
the one Jinja2 environment escapes it everywhere and nothing is marked safe (the image data
URIs built here need no exemption: base64 has no character to escape), and a
Content-Security-Policy lets the page load nothing but its own ``data:`` images and run no
script at all, so even a missed escape could not run code.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import metrics
from analysis.load import PREDICTION_COLUMNS, RunData, load_run

TEMPLATES = Path(__file__).parent / "templates"
THUMBNAIL_WIDTH = 160
METRICS: tuple[tuple[str, Callable[..., metrics.Estimate]], ...] = (
    ("accuracy", metrics.accuracy), ("balanced_accuracy", metrics.balanced_accuracy), ("macro_f1", metrics.macro_f1))
METRIC_COLUMNS = ["run_id", "metric", "value", "low", "high", "n", "baseline", "baseline_low", "baseline_high",
                  "baseline_label", "baseline_from"]
CALIBRATION_BINS = 10
EXAM_TABLES = ("exam_metrics", "exam_clips", "exam_shots", "exam_marks", "exam_audit")

TrainLabels = Sequence[str] | Mapping[str, Sequence[str]] | None


@functools.cache
def environment() -> Any:
    """The report's one Jinja2 environment: autoescape on for every template (run text is
    untrusted), and a missing variable is an error rather than an empty cell."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _number
    return env


def _number(value: Any, digits: int = 3) -> str:
    if _missing(value):
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{float(value):.{digits}f}"


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _plain(value: Any) -> Any:
    """A DataFrame cell as a plain Python value: NaN/NA become ``None``, numpy scalars Python's."""
    if _missing(value):
        return None
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, dict, str)) else value


def _list(value: Any) -> list[Any]:
    """A list-valued cell as a list (a row from a record without the field holds NaN)."""
    return list(value) if isinstance(value, (list, tuple, np.ndarray)) else []


def _data_uri(data: bytes, kind: str) -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _train_labels(run: RunData, train_labels: TrainLabels) -> tuple[list[str], str]:
    """The labels the majority baseline is taken from, and a phrase saying where they come from."""
    if isinstance(train_labels, Mapping):
        given = train_labels.get(run.run_id)
    else:
        given = train_labels
    if given is not None and len([x for x in given if not _missing(x)]):
        labels = [str(x) for x in given if not _missing(x)]
        return labels, f"given train labels (n={len(labels)})"
    if not run.items.empty and "split" in run.items:
        labels = [str(x) for x in run.items.loc[run.items["split"] == "train", "gold"] if not _missing(x)]
        if labels:
            return labels, f"train split (n={len(labels)})"
    return [], "gold labels of the predicted items (no train labels)"


def metrics_table(run: RunData, *, train_labels: TrainLabels = None) -> tuple[pd.DataFrame, list[str]]:
    """The run's metrics on its predictions with a gold label, one row per metric, each with
    the same metric of always answering the majority label (the baseline), and notes on what
    was left out and on a small n. Macro-F1 is averaged over the task's labels (the manifest's
    ``task_spec.labels``; a run without them: the gold classes), so that a class the test
    items lack still counts.

    Args:
        run: a loaded run.
        train_labels: the labels the majority is taken from: one list for every run, or run id
            -> list; by default the gold labels of the run's train split, and without any the
            gold labels of the predicted items themselves (``baseline_from`` says which).

    Returns:
        The table (columns :data:`METRIC_COLUMNS`; empty without labelled predictions) and
        notes for the reader.
    """
    preds = run.predictions
    notes: list[str] = []
    if preds.empty:
        return pd.DataFrame(columns=METRIC_COLUMNS), ["This run has no predictions: no metrics."]
    labelled = preds[preds["gold"].map(lambda g: not _missing(g))]
    if len(labelled) < len(preds):
        left = len(preds) - len(labelled)
        verb = "has no gold label and is" if left == 1 else "have no gold label and are"
        notes.append(f"{left} of {len(preds)} predicted items {verb} left out of the metrics.")
    if labelled.empty:
        notes.append("No predicted item has a gold label: no metrics.")
        return pd.DataFrame(columns=METRIC_COLUMNS), notes
    gold = [str(g) for g in labelled["gold"]]
    predicted = [None if _missing(p) else str(p) for p in labelled["predicted"]]
    train, source = _train_labels(run, train_labels)
    top = metrics.majority_label(train or gold)
    task_labels = [str(x) for x in (run.manifest.get("task_spec") or {}).get("labels") or []]
    if task_labels and not set(gold) <= set(task_labels):
        notes.append(f"Gold labels {', '.join(sorted(set(gold) - set(task_labels)))} are not among the task's labels: "
                     "macro-F1 is averaged over the gold classes.")
        task_labels = []
    options: dict[str, dict[str, Any]] = {"macro_f1": {"labels": task_labels}} if task_labels else {}
    if len(gold) < metrics.SMALL_N:
        notes.append(f"Small n: {len(gold)} labelled predictions (fewer than {metrics.SMALL_N}); accuracy intervals "
                     "are Wilson score intervals, and a bootstrap that cannot vary gives the metric's whole range: "
                     "read the intervals rather than the values.")
    rows = []
    for name, fn in METRICS:
        estimate = fn(gold, predicted, **options.get(name, {}))
        baseline = fn(gold, [top] * len(gold), **options.get(name, {}))
        rows.append({"run_id": run.run_id, "metric": name, "value": estimate.value, "low": estimate.low,
                     "high": estimate.high, "n": estimate.n, "baseline": baseline.value, "baseline_low": baseline.low,
                     "baseline_high": baseline.high, "baseline_label": top, "baseline_from": source})
    return pd.DataFrame(rows, columns=METRIC_COLUMNS), notes


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A DataFrame as a GitHub Markdown table (pipes in cells escaped, newlines folded), without
    needing ``tabulate``."""

    def cell(value: Any) -> str:
        value = _plain(value)
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |",
             "|" + "|".join("---" for _ in frame.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists and objects as JSON text, so that a CSV cell reads back as data, not as a repr."""
    out = frame.copy()
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, (list, dict, tuple))).any():
            out[col] = out[col].map(lambda v: json.dumps(v, default=str) if isinstance(v, (list, dict, tuple)) else v)
    return out


def _thumbnail(path: Path) -> str | None:
    """A frame as an embedded JPEG at most :data:`THUMBNAIL_WIDTH` px wide; ``None`` when the
    file is gone or unreadable (a cleaned cache must not break the report)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.width > THUMBNAIL_WIDTH:
                height = max(1, round(image.height * THUMBNAIL_WIDTH / image.width))
                image = image.resize((THUMBNAIL_WIDTH, height), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return _data_uri(buffer.getvalue(), "jpeg")


def _frame_path(run: RunData, path: str) -> Path:
    """A frame's file: relative paths are taken from the directory the run was started in."""
    candidate = Path(path)
    if candidate.is_absolute():
        return candidate
    base = Path(str(run.manifest.get("cwd") or "."))
    return base / candidate if (base / candidate).exists() else Path.cwd() / candidate


def _by_item(frame: pd.DataFrame | None, column: str) -> dict[str, Any]:
    if frame is None or frame.empty or column not in frame:
        return {}
    return dict(zip(frame["item_id"], frame[column]))


def _models(run: RunData) -> list[str]:
    refs = []
    for entries in (run.manifest.get("models") or {}).values():
        refs += [str(e.get("ref") if isinstance(e, Mapping) else e) for e in entries or []]
    if not refs and "model" in run.predictions:
        refs = [str(m) for m in run.predictions["model"].dropna()]
    return list(dict.fromkeys(refs))


def _table(frame: pd.DataFrame, digits: dict[str, int] | None = None) -> dict[str, Any]:
    """A DataFrame as header and rows of plain values for the template's generic table."""
    digits = digits or {}
    rows = []
    for record in frame.to_dict("records"):
        row = []
        for col in frame.columns:
            value = _plain(record[col])
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            row.append({"text": _number(value, digits.get(col, 3)) if numeric or value is None else str(value),
                        "numeric": numeric})
        rows.append(row)
    return {"columns": [str(c) for c in frame.columns], "rows": rows}


def _item_views(run: RunData, number: int) -> list[dict[str, Any]]:
    """One dict per predicted item with everything its section shows."""
    frames = _by_item(run.stages.get("extract_frames"), "frames")
    has_frames = "extract_frames" in run.stages
    texts = _by_item(run.stages.get("summarize"), "text")
    raw = _by_item(run.stages.get("predict"), "raw")
    injection = _by_item(run.stages.get("predict"), "injection_signals")
    titles = _by_item(run.items, "title")
    neighbours = {k: g.to_dict("records") for k, g in run.neighbours.groupby("item_id", sort=False)}
    hypotheses = {k: g.to_dict("records") for k, g in run.hypotheses.groupby("item_id", sort=False)}
    views = []
    for row_no, p in enumerate(run.predictions.to_dict("records"), 1):
        item_id = str(p["item_id"])
        thumbs = []
        for frame in _list(frames.get(item_id)):
            uri = _thumbnail(_frame_path(run, str(frame.get("path", ""))))
            thumbs.append({"uri": uri, "time": _number(frame.get("timestamp_s"), 1)})
        cited = [int(c) for c in _list(p.get("cited_hypotheses"))]
        views.append({
            "anchor": f"item-{number}-{row_no}-{re.sub(r'[^A-Za-z0-9_-]+', '-', item_id)[:60]}",
            "item_id": item_id,
            "title": str(_plain(titles.get(item_id)) or ""),
            "split": _plain(p.get("split")),
            "frames": thumbs,
            "frames_note": None if has_frames else "no extract_frames stage in this run",
            "text": _plain(texts.get(item_id)),
            "neighbours": [{"id": n["neighbour_id"], "label": _plain(n["label"]), "score": _plain(n["score"])}
                           for n in neighbours.get(item_id, [])],
            "hypotheses": [{"number": h["number"], "statement": h["statement"], "favours": _plain(h["favours"]),
                            "usable": bool(h["usable"]), "problems": _list(h["problems"]),
                            "cited": bool(h["usable"]) and h["number"] in cited}
                           for h in hypotheses.get(item_id, [])],
            "gold": _plain(p.get("gold")),
            "predicted": _plain(p.get("predicted")),
            "correct": _plain(p.get("correct")),
            "confidence": _plain(p.get("confidence")),
            "extraction": _plain(p.get("extraction")),
            "explanation": _plain(p.get("explanation")) or "",
            "grounded": _plain(p.get("grounded")),
            "evidence": [{"quote": str(q), "found": None if f is None else bool(f)}
                         for q, f in zip_longest(_list(p.get("evidence")), _list(p.get("evidence_found")))
                         if q is not None],
            "cited": cited,
            "injection": [str(s) for s in _list(injection.get(item_id))],
            "raw": _plain(raw.get(item_id)),
        })
    return views


def _run_view(run: RunData, number: int, notes: list[str]) -> dict[str, Any]:
    """Everything the report shows of one run, as plain values (the template only lays out)."""
    from analysis import plots

    preds = run.predictions
    labelled = preds[preds["gold"].map(lambda g: not _missing(g))] if not preds.empty else preds
    view: dict[str, Any] = {
        "number": number, "run_id": run.run_id, "config": str(run.manifest.get("config_name") or "?"),
        "status": str(run.manifest.get("status") or "?"), "models": _models(run),
        "item_count": len(run.items) if not run.items.empty else int(run.stats.get("items") or 0),
        "predictions": len(preds), "errors": len(run.errors), "task": run.task,
        "started": str(run.manifest.get("started_at") or run.manifest.get("created_at") or "?")[:19],
        "git_sha": str(run.manifest.get("git_sha") or "?"),
        "notes": notes, "confusion": None, "confusion_png": None, "calibration": None,
        "errors_table": None, "timings": None, "items_view": _item_views(run, number),
    }
    if not labelled.empty:
        gold = [str(g) for g in labelled["gold"]]
        predicted = [None if _missing(p) else str(p) for p in labelled["predicted"]]
        labels = sorted(set(gold) | {p for p in predicted if p is not None})
        matrix = metrics.confusion(gold, predicted, labels=labels)
        view["confusion"] = {"columns": [str(c) for c in matrix.columns],
                             "rows": [(str(g), [int(v) for v in counts]) for g, counts in
                                      zip(matrix.index, matrix.to_numpy())]}
        view["confusion_png"] = _data_uri(plots.confusion_heatmap(matrix, f"confusion matrix, {run.run_id}"), "png")
        scored = labelled[labelled["confidence"].map(lambda c: not _missing(c))]
        if scored.empty:
            view["calibration"] = {"note": "no prediction has a confidence: no calibration"}
        else:
            ece, reliability = metrics.calibration(scored["confidence"].astype(float).tolist(),
                                                   scored["correct"].astype(bool).tolist(), bins=CALIBRATION_BINS)
            view["calibration"] = {
                "note": None, "ece": ece, "n": len(scored), "table": _table(reliability),
                "bin_width": 1 / CALIBRATION_BINS,
                "png": _data_uri(plots.reliability_diagram(reliability, ece, f"reliability, {run.run_id}"), "png")}
    if not run.errors.empty:
        shown = [c for c in ("stage", "item_id", "error_type", "reason") if c in run.errors]
        view["errors_table"] = _table(run.errors[shown].head(200))
    if not run.timings.empty:
        view["timings"] = _table(run.timings, {"seconds": 2, "seconds_per_record": 3, "last_attempt_seconds": 2})
    return view


def exam_tables(run: RunData) -> dict[str, pd.DataFrame] | None:
    """The film exam of ``run`` as the report's tables (:data:`EXAM_TABLES`, from
    :mod:`analysis.film`), or ``None`` when the run has no ``analyse_film`` records."""
    from analysis import film

    if run.stages.get("analyse_film") is None or run.stages["analyse_film"].empty:
        return None
    return {"exam_metrics": film.exam_metrics(run), "exam_clips": film.exam_table(run),
            "exam_shots": film.exam_shots(run), "exam_marks": film.marks_distribution(run),
            "exam_audit": film.exam_audit(run)}


def _mark(answered: Any, annotated: Any, measured: Any) -> str:
    """How an answered shot value reads beside the references: ``right`` / ``wrong`` against the
    annotation, else ``agrees`` / ``differs`` against the measurement, else ``none``."""
    reference, words = (annotated, ("right", "wrong")) if not _missing(annotated) else (measured, ("agrees", "differs"))
    if _missing(reference):
        return "none"
    return words[0] if _same(answered, reference) else words[1]


def _verdicts() -> tuple[str, ...]:
    """The audit's verdicts, in its order (``analysis.audit.VERDICTS``)."""
    from analysis import audit

    return tuple(getattr(audit, "VERDICTS", ("supported", "contradicted", "unverifiable")))


def _tally(shots: pd.DataFrame, what: str) -> list[int]:
    """A student's shots of one clip: answered as annotated, annotated, answered as measured,
    measured (``scale`` or ``movement``); a missing answer never equals its reference."""
    out = []
    for reference in ("annotated", "measured"):
        known = shots[shots[f"{what}_{reference}"].notna()]
        out += [int(sum(_same(a, r) for a, r in zip(known[f"{what}_answered"], known[f"{what}_{reference}"]))),
                len(known)]
    return out


def _same(answered: Any, reference: Any) -> bool:
    return not _missing(answered) and answered == reference


def _clip_views(run: RunData, number: int, tables: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """One dict per examined clip: gold labels, each student's answer beside them with the
    teacher's marks and the audit's verdict counts, and the shots as annotated, measured and
    answered by every student."""
    from analysis.audit import run_claims

    clips, shots = tables["exam_clips"], tables["exam_shots"]
    verdicts = _verdicts()
    claims = run_claims(run)
    claims = claims[claims.student.notna()] if len(claims) else claims
    counts = {key: part.verdict.value_counts().to_dict() for key, part in claims.groupby(["item_id", "student"])} \
        if len(claims) else {}
    answers = {(r["item_id"], a["student"]): a for r in run["analyse_film"].to_dict("records") for a in r["answers"]}
    grades = {(r["item_id"], g["student"]): g
              for r in run.stages.get("grade_analysis", pd.DataFrame()).to_dict("records") for g in r["grades"]}
    views = []
    for row_no, (item_id, part) in enumerate(clips.groupby("item_id", sort=False), 1):
        first = part.iloc[0]
        students = []
        for row in part.to_dict("records"):
            key = (item_id, row["student"])
            answer, grade = answers.get(key, {}), grades.get(key, {})
            mine = shots[(shots.item_id == item_id) & (shots.student == row["student"])]
            budget = _plain(row["budget"])
            students.append({
                "student": row["student"], "model": row["model"], "extraction": row["extraction"],
                "problems": _list(answer.get("problems")), "genres": _list(row["genres"]),
                "jaccard": _plain(row["genre_jaccard"]), "budget": budget,
                "budget_right": None if _missing(row["budget_gold"]) else budget == row["budget_gold"],
                "scale": _tally(mine, "scale"), "movement": _tally(mine, "movement"),
                "marks": [_plain(row[c]) for c in ("observations", "evidence", "interpretation", "overall")],
                "graded": _plain(row.get("graded")),
                "reasons": [(str(k), str(v)) for k, v in (grade.get("reasons") or {}).items()],
                "claims": [int(counts.get(key, {}).get(v, 0)) for v in verdicts],
                "analysis": str(row["analysis"] or ""),
            })
        order = list(part["student"])
        grid = []
        for k, shot in shots[shots.item_id == item_id].groupby("shot", sort=True):
            by = {r["student"]: r for r in shot.to_dict("records")}
            ref = shot.iloc[0]

            def column(what: str) -> dict[str, Any]:
                """One field of the shot: annotated, measured, and each student's answer with its mark."""
                given = [_plain(by[s][f"{what}_answered"]) if s in by else None for s in order]
                return {"annotated": _plain(ref[f"{what}_annotated"]), "measured": _plain(ref[f"{what}_measured"]),
                        "answers": [(g, _mark(g, ref[f"{what}_annotated"], ref[f"{what}_measured"])) for g in given]}

            grid.append({"shot": int(k), "span": f"{_number(ref['start_s'], 1)}–{_number(ref['end_s'], 1)} s",
                         "scale": column("scale"), "movement": column("movement")})
        views.append({
            "anchor": f"clip-{number}-{row_no}-{re.sub(r'[^A-Za-z0-9_-]+', '-', str(item_id))[:60]}",
            "item_id": str(item_id), "title": str(first["title"] or ""), "genres_gold": _list(first["genres_gold"]),
            "budget_gold": _plain(first["budget_gold"]), "students": students, "order": order, "shots": grid})
    return views


def _exam_view(run: RunData, number: int, tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Everything the film exam section shows of one run, as plain values."""
    from analysis import plots

    table = tables["exam_metrics"]
    audit = tables["exam_audit"]
    rows = [{k: _plain(v) for k, v in row.items()} for row in table.to_dict("records")]
    order = list(dict.fromkeys(r["metric"] for r in rows))
    rows.sort(key=lambda r: order.index(r["metric"]))  # stable: each metric's students together
    sources = list(dict.fromkeys(r["baseline_from"] for r in rows if r["baseline_from"]))
    for row in rows:
        row["source"] = sources.index(row["baseline_from"]) + 1 if row["baseline_from"] else None
    return {
        "number": number, "run_id": run.run_id, "metrics": rows, "sources": sources,
        "small_n": bool(table["small_n"].any()) if len(table) else False,
        "png": _data_uri(plots.exam_bars(table), "png") if len(table) else None,
        "marks": _table(tables["exam_marks"]),
        "verdicts": list(_verdicts()),
        "audit": [{**{k: _plain(v) for k, v in row.items()}, "paired": str(row.get("student", "")).endswith("(paired)")}
                  for row in audit.to_dict("records")],
        "clips": _clip_views(run, number, tables),
    }


def write_report(runs: Sequence[str | Path | RunData], out_dir: str | Path, *,
                 train_labels: TrainLabels = None) -> Path:
    """Write the report of ``runs`` into ``out_dir`` (created if needed).

    Args:
        runs: run directories or loaded runs, shown in this order.
        out_dir: where ``report.html``, ``metrics.csv``, ``metrics.md`` and ``predictions.csv``
            go, with the ``exam_*`` tables when a run has a film exam (existing files of those
            names are replaced).
        train_labels: what the majority baseline is taken from (see :func:`metrics_table`).

    Returns:
        The path of ``report.html``.
    """
    from analysis import plots

    loaded = [r if isinstance(r, RunData) else load_run(r) for r in runs]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    tables, views, exams = [], [], []
    exam_frames: dict[str, list[pd.DataFrame]] = {name: [] for name in EXAM_TABLES}
    for number, run in enumerate(loaded, 1):
        table, notes = metrics_table(run, train_labels=train_labels)
        exam = exam_tables(run)
        if exam is not None:
            if run.predictions.empty:
                notes = ["This run has no predictions: its film exam is reported in the section Film exam."]
            exams.append(_exam_view(run, number, exam))
            for name, frame in exam.items():
                exam_frames[name].append(frame.assign(run_id=run.run_id))
        tables.append(table)
        views.append(_run_view(run, number, notes))
    filled = [t for t in tables if not t.empty]
    table = pd.concat(filled, ignore_index=True) if filled else pd.DataFrame(columns=METRIC_COLUMNS)
    timed = {r.run_id: r.timings for r in loaded if not r.timings.empty}
    summary = {
        "metrics": [{k: _plain(v) for k, v in row.items()} for row in table.to_dict("records")],
        "metrics_png": _data_uri(plots.metric_bars(table), "png") if filled else None,
        "timings_png": _data_uri(plots.stage_seconds(timed), "png") if timed else None,
    }
    html = environment().get_template("report.html.j2").render(
        runs=views, summary=summary, exams=exams, generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    path = out / "report.html"
    path.write_text(html, encoding="utf-8")

    table.to_csv(out / "metrics.csv", index=False)
    (out / "metrics.md").write_text(markdown_table(table), encoding="utf-8")
    frames = [r.predictions.assign(run_id=r.run_id) for r in loaded if not r.predictions.empty]
    predictions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PREDICTION_COLUMNS)
    predictions = predictions.reindex(columns=["run_id"] + [c for c in predictions.columns if c != "run_id"])
    _flat(predictions).to_csv(out / "predictions.csv", index=False)
    if exams:
        for name, frames in exam_frames.items():
            frame = pd.concat([f for f in frames if not f.empty] or [pd.DataFrame(columns=["run_id"])],
                              ignore_index=True)
            frame = frame.reindex(columns=["run_id"] + [c for c in frame.columns if c != "run_id"])
            _flat(frame).to_csv(out / f"{name}.csv", index=False)
            if name == "exam_metrics":
                (out / "exam_metrics.md").write_text(markdown_table(frame), encoding="utf-8")
    return path
