"""Plots of runs as PNG bytes, for the HTML report and for notebooks
(``IPython.display.Image(plots.confusion_heatmap(...))``).

Every function takes the plain tables that :mod:`analysis.metrics` and :mod:`analysis.load`
give and returns the PNG of one figure. matplotlib is imported inside the functions (``import
analysis`` stays fast) and each figure is drawn on its own Agg canvas, not through pyplot: no
global backend is switched under a notebook's feet, no figure is left registered, and the
figure is closed (its memory freed) once the PNG is written.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

BAR = "#4c78a8"
BASELINE = "#e45756"
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2", "#eeca3b", "#9d755d", "#bab0ac")


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    """The figure as PNG bytes; without the matplotlib version in the metadata, the same
    data give the same bytes on any machine."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    finally:
        fig.clear()
    return buffer.getvalue()


def confusion_heatmap(matrix: pd.DataFrame, title: str = "confusion matrix") -> bytes:
    """Heat map of a confusion matrix (rows gold, columns predicted, as
    :func:`analysis.metrics.confusion` gives it), each cell labelled with its count."""
    values = matrix.to_numpy(dtype=float)
    fig = _figure(1.4 + 0.9 * max(len(matrix.columns), 1), 1.1 + 0.6 * max(len(matrix.index), 1))
    ax = fig.add_subplot()
    ax.imshow(values, cmap="Blues", vmin=0, vmax=max(float(values.max(initial=0)), 1.0))
    ax.set_xticks(range(len(matrix.columns)), [str(c) for c in matrix.columns], rotation=20, ha="right")
    ax.set_yticks(range(len(matrix.index)), [str(i) for i in matrix.index])
    top = values.max(initial=0)
    for (i, j), count in pd.DataFrame(values).stack().items():
        ax.text(j, i, f"{int(count)}", ha="center", va="center", color="white" if count > top / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize=10)
    return _png(fig)


def metric_bars(table: pd.DataFrame) -> bytes:
    """One bar per run per metric with its 95 % interval as an error bar, and the majority
    baseline of that run and metric as a dashed line across its bar.

    Args:
        table: the report's metrics table (columns ``run_id``, ``metric``, ``value``, ``low``,
            ``high``, ``baseline``); a missing interval (n < 2) draws no error bar.
    """
    metric_names = list(dict.fromkeys(table["metric"]))
    run_ids = list(dict.fromkeys(table["run_id"]))
    width = 0.8 / max(len(run_ids), 1)
    fig = _figure(max(4.5, 1.6 * len(metric_names) * max(1, len(run_ids) / 2)), 3.2)
    ax = fig.add_subplot()
    baseline_drawn = False
    for r, run_id in enumerate(run_ids):
        rows = table[table["run_id"] == run_id].set_index("metric")
        xs, values, errors = [], [], [[], []]
        for m, name in enumerate(metric_names):
            if name not in rows.index:
                continue
            row = rows.loc[name]
            x = m - 0.4 + width * (r + 0.5)
            xs.append(x)
            values.append(row["value"])
            has_interval = not (pd.isna(row["low"]) or pd.isna(row["high"]))
            errors[0].append(max(row["value"] - row["low"], 0) if has_interval else 0)
            errors[1].append(max(row["high"] - row["value"], 0) if has_interval else 0)
            if not pd.isna(row["baseline"]):
                ax.hlines(row["baseline"], x - width / 2, x + width / 2, colors=BASELINE, linestyles="dashed",
                          linewidth=1.5, label=None if baseline_drawn else "majority baseline", zorder=3)
                baseline_drawn = True
        ax.bar(xs, values, width=width * 0.9, yerr=errors, capsize=3, color=PALETTE[r % len(PALETTE)],
               label=str(run_id))
    ax.set_xticks(range(len(metric_names)), [str(m).replace("_", " ") for m in metric_names])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("value (95 % interval)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(len(run_ids) + 1, 4),
              frameon=False)
    ax.set_title("metrics per run", fontsize=10)
    return _png(fig)


def reliability_diagram(table: pd.DataFrame, ece: float | None = None, title: str = "reliability") -> bytes:
    """Accuracy against mean confidence per confidence bin (bars at the bins' mean confidence,
    their width the bin's share of items), beside the diagonal of perfect calibration.

    Args:
        table: :func:`analysis.metrics.calibration`'s reliability table (``confidence``,
            ``accuracy``, ``items`` per bin).
        ece: the expected calibration error, shown in the title.
    """
    fig = _figure(3.8, 3.4)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    if not table.empty:
        share = table["items"] / table["items"].sum()
        ax.bar(table["confidence"], table["accuracy"], width=0.02 + 0.08 * share / share.max(), color=BAR,
               alpha=0.85, label="accuracy in bin")
        ax.plot(table["confidence"], table["accuracy"], "o", color=BAR, markersize=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("mean confidence in bin")
    ax.set_ylabel("accuracy in bin")
    suffix = "" if ece is None or math.isnan(ece) else f" (ECE {ece:.3f})"
    ax.set_title(f"{title}{suffix}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    return _png(fig)


def stage_seconds(timings: Mapping[str, pd.DataFrame]) -> bytes:
    """Seconds each stage cost when computed, per run (horizontal bars grouped by stage).

    Args:
        timings: run id -> :attr:`analysis.load.RunData.timings` (``stage``, ``seconds``).
    """
    stages = list(dict.fromkeys(s for frame in timings.values() for s in frame["stage"]))
    runs = list(timings)
    height = 0.8 / max(len(runs), 1)
    fig = _figure(5.5, 0.9 + 0.35 * max(len(stages), 1) * max(1, len(runs) / 1.5))
    ax = fig.add_subplot()
    for r, run_id in enumerate(runs):
        seconds = timings[run_id].set_index("stage")["seconds"]
        ys = [len(stages) - 1 - s + 0.4 - height * (r + 0.5) for s in range(len(stages))]
        ax.barh(ys, [float(seconds.get(stage, 0.0) or 0.0) for stage in stages], height=height * 0.9,
                color=PALETTE[r % len(PALETTE)], label=str(run_id))
    ax.set_yticks([len(stages) - 1 - s for s in range(len(stages))], stages)
    ax.set_xlabel("seconds (as computed, summed over records)")
    ax.set_title("time per stage", fontsize=10)
    if len(runs) > 1:
        ax.legend(fontsize=7)
    return _png(fig)


def hallucination_bars(summary: pd.DataFrame, by: str = "type") -> bytes:
    """The hallucination rate per claim type (or target, student) as horizontal bars with their
    95 % intervals, each labelled with its contradicted / verifiable counts; groups without a
    verifiable claim are listed with "none verifiable" instead of a bar.

    Args:
        summary: ``analysis.audit.rates(table, by)`` (its ``all`` row included as the last bar).
    """
    rows = summary.to_dict("records")
    fig = _figure(6.0, 0.45 * len(rows) + 1.0)
    ax = fig.add_subplot()
    for y, row in enumerate(rows):
        verifiable = row["supported"] + row["contradicted"]
        if row["hallucination"] is None or verifiable == 0:
            ax.text(0.01, y, "none verifiable", va="center", fontsize=8, color="#666666")
            continue
        low, high = row["hallucination_ci"]
        ax.barh(y, row["hallucination"], height=0.6, color=BASELINE if row[by] == "all" else BAR,
                xerr=[[max(row["hallucination"] - low, 0)], [max(high - row["hallucination"], 0)]], capsize=3)
        ax.text(high + 0.02, y, f"{row['contradicted']}/{verifiable}", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [str(r[by]).replace("_", " ") for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlabel("hallucination rate: contradicted / verifiable claims (95 % interval)")
    ax.set_title(f"hallucination rate per claim {by}", fontsize=10)
    return _png(fig)


def exam_bars(table: pd.DataFrame) -> bytes:
    """The film exam's shares per student (and the measurement): one horizontal bar per
    student and metric with its 95 % interval, the metric's constant-answer baseline as a
    dashed tick across the bar. Marks (1..5) and paired differences are left to the tables.

    Args:
        table: ``analysis.film.exam_metrics(run)`` (``student``, ``metric``, ``value``, ``low``,
            ``high``, ``baseline``).
    """
    shares = table[~table["metric"].str.startswith("mark:") & ~table["student"].str.endswith("(paired)")]
    names = list(dict.fromkeys(shares["metric"]))
    students = list(dict.fromkeys(shares["student"]))
    rows = [(m, s) for m in names for s in students if ((shares.metric == m) & (shares.student == s)).any()]
    fig = _figure(7.0, 0.9 + 0.28 * max(len(rows), 1))
    ax = fig.add_subplot()
    baseline_drawn = False
    for y, (name, student) in enumerate(rows):
        row = shares[(shares.metric == name) & (shares.student == student)].iloc[0]
        first = y == next(k for k, r in enumerate(rows) if r[1] == student)
        ax.barh(y, row["value"], height=0.7, color=PALETTE[students.index(student) % len(PALETTE)],
                xerr=[[max(row["value"] - row["low"], 0)], [max(row["high"] - row["value"], 0)]], capsize=2,
                label=student if first else None)
        if not pd.isna(row["baseline"]):
            ax.vlines(row["baseline"], y - 0.4, y + 0.4, colors=BASELINE, linestyles="dashed", linewidth=1.5,
                      label=None if baseline_drawn else "constant-answer baseline", zorder=3)
            baseline_drawn = True
    ax.set_yticks(range(len(rows)), [f"{m} · {s}" for m, s in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("value (95 % interval)")
    ax.set_title("film exam per student", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png(fig)
