"""Plots of a run as PNG bytes (matplotlib, Agg backend, imported lazily), for reports and
notebooks. Each function draws one figure, closes it, and returns the PNG."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd


def _figure(width: float = 4.0, height: float = 3.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=100)


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def confusion_png(confusion: pd.DataFrame, title: str = "confusion matrix") -> bytes:
    """Heat map of a confusion matrix (rows gold, columns predicted) with the counts."""
    fig, ax = _figure()
    values = confusion.to_numpy()
    ax.imshow(values, cmap="Blues")
    ax.set_xticks(range(len(confusion.columns)), [str(c) for c in confusion.columns], rotation=25, ha="right")
    ax.set_yticks(range(len(confusion.index)), [str(i) for i in confusion.index])
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(j, i, int(values[i, j]), ha="center", va="center",
                    color="white" if values[i, j] > values.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    return _png(fig)


def metrics_png(rows: pd.DataFrame) -> bytes:
    """Bars with 95 % interval whiskers: ``rows`` has run_id, metric, value, low, high and
    baseline (drawn as a dashed line over the accuracy bars)."""
    fig, ax = _figure(5.0, 3.0)
    labels = [f"{r.run_id}\n{r.metric}" for r in rows.itertuples()]
    x = range(len(rows))
    errors = [(rows["value"] - rows["low"]).clip(lower=0), (rows["high"] - rows["value"]).clip(lower=0)]
    ax.bar(x, rows["value"], yerr=errors, capsize=4, color="#4c78a8")
    for i, r in enumerate(rows.itertuples()):
        if pd.notna(r.baseline):
            ax.hlines(r.baseline, i - 0.4, i + 0.4, colors="#e45756", linestyles="dashed")
    ax.set_xticks(list(x), labels, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_title("metrics, 95 % intervals (dashed: majority baseline)")
    return _png(fig)


def reliability_png(table: pd.DataFrame) -> bytes:
    """Reliability diagram: accuracy against mean confidence per bin, sized by items."""
    fig, ax = _figure(3.5, 3.0)
    ax.plot([0, 1], [0, 1], ls="--", c="grey")
    if not table.empty:
        ax.scatter(table["confidence"], table["accuracy"], s=20 + 10 * table["items"], color="#4c78a8")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("reliability")
    return _png(fig)


def timings_png(timings: pd.DataFrame) -> bytes:
    """Seconds each stage cost when computed (horizontal bars)."""
    fig, ax = _figure(4.5, 0.6 + 0.3 * max(len(timings), 1))
    ax.barh(timings["stage"][::-1], timings["seconds"][::-1], color="#72b7b2")
    ax.set_xlabel("seconds (as computed)")
    ax.set_title("time per stage")
    return _png(fig)
