"""``m2t report``: one self-contained HTML file of one or more runs, and the same tables as
CSV and Markdown.

The HTML holds, per run: what it is (config, model, status, counts), the metrics with their
95 % intervals beside the majority baseline, the confusion matrix, calibration (ECE and the
reliability table), the time per stage, the plots (embedded PNG), and one section per
predicted item: its sampled frames as thumbnails (embedded JPEG), the text representation,
neighbours, hypotheses, and the prediction with its explanation and evidence. Everything
taken from a run is untrusted text: one Jinja2 environment with autoescape renders it, only
the images this module encodes itself are marked safe, and the page loads nothing from the
network and runs no script.
"""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import metrics
from analysis.load import RunData, load_run

TEMPLATES = Path(__file__).parent / "templates"
THUMB_WIDTH = 160


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"], default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _data_uri(png: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64,{base64.b64encode(png).decode('ascii')}"


def _thumbnail(path: str) -> str | None:
    """A frame as a small embedded JPEG (``None`` when the file is gone)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((THUMB_WIDTH, THUMB_WIDTH * 4))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=80)
    except OSError:
        return None
    return _data_uri(buffer.getvalue(), "jpeg")


def metric_rows(run: RunData) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The run's metrics (one row each, with the majority baseline) and what they rest on."""
    preds = run.predictions
    labelled = preds.dropna(subset=["gold"])
    notes = {"predictions": len(preds), "unlabelled": len(preds) - len(labelled)}
    if labelled.empty:
        return pd.DataFrame(columns=["run_id", "metric", "value", "low", "high", "n", "baseline"]), notes
    gold, predicted = labelled["gold"].tolist(), labelled["predicted"].tolist()
    train = run.items[run.items["split"] == "train"]["gold"].dropna().tolist()
    notes["baseline_from"] = "the train split" if train else "the gold labels of these items (no train split)"
    base = metrics.majority_baseline(train or gold, gold)
    rows = []
    for estimate in (metrics.accuracy(gold, predicted), metrics.balanced_accuracy(gold, predicted),
                     metrics.macro_f1(gold, predicted)):
        rows.append({"run_id": run.run_id, "metric": estimate.name, "value": estimate.value, "low": estimate.low,
                     "high": estimate.high, "n": estimate.n, "baseline": base.value if estimate.name == "accuracy"
                     else None})
    rows.append({"run_id": run.run_id, "metric": base.name, "value": base.value, "low": base.low, "high": base.high,
                 "n": base.n, "baseline": None})
    return pd.DataFrame(rows), notes


def _items(run: RunData) -> list[dict[str, Any]]:
    """One dict per predicted item: everything its section shows."""
    summaries = run.stages.get("summarize", pd.DataFrame(columns=["item_id", "text"])).set_index("item_id")["text"]
    frames = run.stages.get("extract_frames", pd.DataFrame(columns=["item_id", "frames"])).set_index("item_id")
    hypotheses, neighbours = run.hypotheses, run.neighbours
    titles = run.items.set_index("item_id")["title"] if not run.items.empty else pd.Series(dtype=object)
    out = []
    for p in run.predictions.to_dict("records"):
        item_id = p["item_id"]
        thumbs = []
        for frame in (frames.loc[item_id, "frames"] if item_id in frames.index else None) or []:
            thumbs.append({"uri": _thumbnail(frame["path"]), "time": f"{frame['timestamp_s']:.1f} s"})
        evidence = list(zip(p.get("evidence") or [], p.get("evidence_found") or []))
        out.append({
            "id": item_id, "anchor": "item-" + hashlib.sha1(item_id.encode()).hexdigest()[:12], "title": titles.get(item_id, ""),
            "gold": p.get("gold"), "predicted": p.get("predicted"), "correct": p.get("correct"),
            "confidence": p.get("confidence"), "extraction": p.get("extraction"),
            "explanation": p.get("explanation") or "", "grounded": p.get("grounded"),
            "cited": p.get("cited_hypotheses") or [], "evidence": evidence, "frames": thumbs,
            "text": summaries.get(item_id, ""),
            "neighbours": neighbours[neighbours["item_id"] == item_id].to_dict("records"),
            "hypotheses": hypotheses[hypotheses["item_id"] == item_id].to_dict("records"),
        })
    return out


def _run_view(run: RunData) -> tuple[dict[str, Any], pd.DataFrame]:
    from analysis import plots

    rows, notes = metric_rows(run)
    labelled = run.predictions.dropna(subset=["gold"])
    view: dict[str, Any] = {"id": run.run_id, "config": run.manifest.get("config_name", "?"),
                            "status": run.manifest.get("status", "?"), "n_items": len(run.items),
                            "errors": len(run.errors), "notes": notes,
                            "metrics": [{**m, "baseline": None if pd.isna(m["baseline"]) else m["baseline"]}
                                        for m in rows.to_dict("records")],
                            "models": sorted({str(m) for m in run.predictions.get("model", pd.Series()).dropna()}),
                            "timings": run.timings.to_dict("records"), "plots": [], "confusion": None,
                            "ece": None, "reliability": [], "items_view": _items(run)}
    if not labelled.empty:
        confusion = metrics.confusion(labelled["gold"].tolist(), labelled["predicted"].tolist())
        view["confusion"] = {"columns": [str(c) for c in confusion.columns],
                             "rows": [(str(i), [int(v) for v in r]) for i, r in zip(confusion.index, confusion.to_numpy())]}
        ece, reliability = metrics.calibration(labelled["confidence"].astype(float).tolist(),
                                               labelled["correct"].astype(bool).tolist(), bins=5)
        view["ece"], view["reliability"] = ece, reliability.to_dict("records")
        view["plots"] += [("confusion matrix", _data_uri(plots.confusion_png(confusion))),
                          ("reliability", _data_uri(plots.reliability_png(reliability)))]
    if not run.timings.empty:
        view["plots"].append(("time per stage", _data_uri(plots.timings_png(run.timings))))
    return view, rows


def _markdown(frame: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "" if pd.isna(v) else f"{v:.4f}"
        return "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_report(runs: list[str | Path | RunData], out_dir: str | Path) -> Path:
    """Writes ``report.html``, ``metrics.csv``, ``metrics.md`` and ``predictions.csv`` of
    ``runs`` into ``out_dir``; returns the HTML's path."""
    from analysis import plots

    loaded = [r if isinstance(r, RunData) else load_run(r) for r in runs]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    views, tables = [], []
    for run in loaded:
        view, rows = _run_view(run)
        views.append(view)
        tables.append(rows)
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    summary_plot = None
    if not table.empty:
        bars = table[~table["metric"].str.startswith("majority")]
        summary_plot = _data_uri(plots.metrics_png(bars))
    html = _environment().get_template("report.html.j2").render(runs=views, summary_plot=summary_plot)
    path = out / "report.html"
    path.write_text(html, encoding="utf-8")
    table.to_csv(out / "metrics.csv", index=False)
    (out / "metrics.md").write_text(_markdown(table) if not table.empty else "(no labelled predictions)\n")
    predictions = pd.concat([r.predictions.assign(run_id=r.run_id) for r in loaded], ignore_index=True)
    predictions.to_csv(out / "predictions.csv", index=False)
    return path
