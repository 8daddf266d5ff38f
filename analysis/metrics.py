"""Classification metrics, each with a 95 % confidence interval and the n it rests on.

Every function takes the gold and predicted labels (any sequence of strings; ``None`` is a
missing prediction and counts as wrong; an item without a gold label is left out, with a
warning) and returns an :class:`Estimate`. Point values come
from scikit-learn. Intervals:

* a share of successes (accuracy, the majority baseline, an audit's claim precision,
  hallucination rate and CHAIR: :func:`proportion`) gets the Wilson score interval
  (statsmodels) when n < :data:`SMALL_N` or the share is 0 or 1, where a bootstrap collapses to
  a point (16/16 right would read ``[1, 1]``) or is too narrow; else SciPy's bootstrap. Wilson
  rather than Clopper-Pearson: its coverage stays close to the nominal 95 % at small n, where
  the exact interval is conservative (often 98-99 %, so wider than it need be), and it is never
  a point for n >= 1 (Brown, Cai & DasGupta 2001). Shares of claims are resampled by their
  cluster (the video): the claims of one video are not independent draws;
* other metrics (balanced accuracy, macro-F1, means): SciPy's bootstrap, percentile method,
  resampling items with their gold and predicted labels together. Where it cannot vary (n = 1,
  or every resample gives the same value) a bounded metric gets its whole range (``[0, 1]``)
  rather than NaN or a point: the data say nothing about its spread.

A fixed seed makes a table reproducible. n = 0 is no estimate (a ``ValueError``). An estimate
on fewer than :data:`SMALL_N` items says so (:attr:`Estimate.small_n`), for the table to show.

* :func:`accuracy`, :func:`balanced_accuracy`, :func:`macro_f1` (over the task's labels when
  given), :func:`proportion`, :func:`wilson_interval`;
* :func:`per_class` — precision, recall, F1 and support per label (a DataFrame);
* :func:`confusion` — the confusion matrix as a DataFrame (rows gold, columns predicted);
* :func:`reweighted_accuracy` — the accuracy expected under another class prior (the VPD test
  set is balanced, the real prior is not): ``sum_c prior(c) * recall(c)``;
* :func:`calibration` — expected calibration error and the reliability table;
* :func:`majority_baseline` — the accuracy of always answering the most frequent train label;
* :func:`mcnemar` — McNemar's exact test between two runs on the same items (statsmodels).
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

MISSING = "<none>"
SMALL_N = 30


@dataclass(frozen=True)
class Estimate:
    """A metric's value with its confidence interval, the number of items behind it and how
    the interval was drawn (``wilson``, ``bootstrap``, ``cluster bootstrap``, or ``range`` where
    the data cannot bound it)."""

    name: str
    value: float
    low: float
    high: float
    n: int
    confidence: float = 0.95
    method: str = "bootstrap"

    @property
    def small_n(self) -> bool:
        """Fewer than :data:`SMALL_N` items: a table says so beside the estimate, since the
        value alone would overstate what so few items say."""
        return self.n < SMALL_N

    def __str__(self) -> str:
        """``value [low, high] (n=…)``. The note on a small n is left to the table
        (:attr:`small_n`): this text fills fixed-width columns (``m2t compare``), where a
        longer cell would squeeze the metric's name out."""
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def _missing(label: object) -> bool:
    return label is None or (pd.api.types.is_scalar(label) and bool(pd.isna(label)))  # None, NaN, pd.NA


def _clean(gold: Sequence[str | None], predicted: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Gold and predicted labels as arrays of strings: an item without a gold label (None or
    NaN: an unlabelled test item) cannot be scored and is left out, with a warning that says
    how many; a missing prediction becomes :data:`MISSING` (wrong)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    pairs = [(g, p) for g, p in zip(gold, predicted) if not _missing(g)]
    if len(pairs) < len(gold):
        warnings.warn(f"{len(gold) - len(pairs)} of {len(gold)} items have no gold label and are left out of "
                      f"the metric", stacklevel=3)
    g = np.array([str(x) for x, _ in pairs], dtype=object)
    p = np.array([MISSING if _missing(x) else str(x) for _, x in pairs], dtype=object)
    return g, p


def _interval(statistic: Callable[[np.ndarray, np.ndarray], float], gold: np.ndarray, predicted: np.ndarray,
              confidence: float, resamples: int, seed: int) -> tuple[float, float]:
    from scipy.stats import bootstrap

    if len(gold) < 2:
        return float("nan"), float("nan")
    index = np.arange(len(gold))
    result = bootstrap((index,), lambda i: statistic(gold[i], predicted[i]), vectorized=False,
                       confidence_level=confidence, n_resamples=resamples, method="percentile",
                       random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return float(low), float(high)


def _bounded(low: float, high: float, bounds: tuple[float, float] | None) -> tuple[float, float, str]:
    """The bootstrap interval, or the metric's whole range where the bootstrap cannot vary
    (one item, or every resample equal): a point or NaN would claim more than the data say."""
    if bounds is not None and (low != low or high != high or low == high):
        return float(bounds[0]), float(bounds[1]), "range"
    return low, high, "bootstrap"


def _estimate(name: str, statistic: Callable[[np.ndarray, np.ndarray], float], gold: Sequence[str | None],
              predicted: Sequence[str | None], confidence: float, resamples: int, seed: int,
              bounds: tuple[float, float] = (0.0, 1.0)) -> Estimate:
    g, p = _clean(gold, predicted)
    if len(g) == 0:
        raise ValueError(f"{name}: no items")
    low, high, method = _bounded(*_interval(statistic, g, p, confidence, resamples, seed), bounds)
    return Estimate(name, float(statistic(g, p)), low, high, len(g), confidence, method)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of ``successes`` out of ``n`` (statsmodels'
    ``proportion_confint``): never a point for n >= 1, close to nominal coverage at small n."""
    from statsmodels.stats.proportion import proportion_confint

    if n < 1:
        raise ValueError("a proportion of 0 items has no interval")
    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    return float(low), float(high)


def _cluster_interval(hits: np.ndarray, clusters: np.ndarray, confidence: float, resamples: int,
                      seed: int) -> tuple[float, float]:
    """Percentile bootstrap of the pooled share, resampling whole clusters (ratio of the summed
    successes to the summed counts of the drawn clusters)."""
    from scipy.stats import bootstrap

    names, which = np.unique(clusters, return_inverse=True)
    successes = np.bincount(which, weights=hits, minlength=len(names))
    counts = np.bincount(which, minlength=len(names)).astype(float)
    result = bootstrap((np.arange(len(names)),), lambda i: float(successes[i].sum() / counts[i].sum()),
                       vectorized=False, confidence_level=confidence, n_resamples=resamples, method="percentile",
                       random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return float(low), float(high)


def proportion(successes: Sequence[bool], name: str = "proportion", *, clusters: Sequence[str] | None = None,
               confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> Estimate:
    """The share of successes with an interval that is never a point and never NaN.

    Args:
        successes: one flag per draw (item right, claim contradicted, …).
        name: the estimate's name.
        clusters: the group of each draw when draws of a group are not independent (the video
            of each claim). Groups are resampled whole (cluster bootstrap) and the interval is
            widened to at least the Wilson interval of the same counts, since a bootstrap over
            a few groups is too narrow; with one group, or a share of 0 or 1, it is the Wilson
            interval (nothing to resample).
        confidence: the interval's level.
        resamples: bootstrap resamples.
        seed: the bootstrap's seed (a table is reproducible).

    Returns:
        The estimate; without clusters its interval is Wilson's when n < :data:`SMALL_N` or
        the share is 0 or 1, else the items' bootstrap.

    Raises:
        ValueError: no draws (n = 0 is no estimate), or clusters of another length.
    """
    hits = np.asarray([bool(x) for x in successes], dtype=float)
    n, k = len(hits), int(hits.sum())
    if n == 0:
        raise ValueError(f"{name}: no items")
    value = k / n
    wilson = wilson_interval(k, n, confidence)
    if clusters is not None:
        groups = np.asarray([str(c) for c in clusters], dtype=object)
        if len(groups) != n:
            raise ValueError(f"{name}: {n} flags but {len(groups)} clusters")
        if k in (0, n) or len(set(groups)) < 2:
            return Estimate(name, value, *wilson, n, confidence, "wilson")
        low, high = _cluster_interval(hits, groups, confidence, resamples, seed)
        if low >= wilson[0] and high <= wilson[1]:
            return Estimate(name, value, *wilson, n, confidence, "wilson")
        return Estimate(name, value, min(low, wilson[0]), max(high, wilson[1]), n, confidence, "cluster bootstrap")
    if n < SMALL_N or k in (0, n):
        return Estimate(name, value, *wilson, n, confidence, "wilson")
    low, high = _interval(lambda a, _b: float(np.mean(a)), hits, hits, confidence, resamples, seed)
    return Estimate(name, value, low, high, n, confidence, "bootstrap")


def accuracy(gold: Sequence[str | None], predicted: Sequence[str | None], *, confidence: float = 0.95,
             resamples: int = 2000, seed: int = 0) -> Estimate:
    """Share of items whose prediction equals the gold label (interval: :func:`proportion`)."""
    g, p = _clean(gold, predicted)
    return proportion(g == p, "accuracy", confidence=confidence, resamples=resamples, seed=seed)


def balanced_accuracy(gold: Sequence[str | None], predicted: Sequence[str | None], *, confidence: float = 0.95,
                      resamples: int = 2000, seed: int = 0) -> Estimate:
    """Mean recall over the gold classes (scikit-learn's ``balanced_accuracy_score``); where the
    bootstrap cannot vary (n = 1, all right) the interval is ``[0, 1]``."""
    from sklearn.metrics import balanced_accuracy_score

    def statistic(g: np.ndarray, p: np.ndarray) -> float:
        with warnings.catch_warnings():  # a missing prediction is a class gold never has: wrong, as meant
            warnings.simplefilter("ignore", UserWarning)
            return float(balanced_accuracy_score(g, p))

    return _estimate("balanced accuracy", statistic, gold, predicted, confidence, resamples, seed)


def macro_f1(gold: Sequence[str | None], predicted: Sequence[str | None], *, labels: Sequence[str] | None = None,
             confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> Estimate:
    """Unweighted mean of the per-class F1: over the task's ``labels`` when given (scikit-learn's
    ``f1_score(average="macro", labels=labels)``), else over the gold classes. Pass the task's
    labels: the metric is then defined by the task, not by the classes a small test set
    happens to contain, so runs on different items compare, and a class the model predicts
    but gold lacks (F1 0) pulls the mean down instead of dropping out. Where the bootstrap
    cannot vary (n = 1, all right) the interval is ``[0, 1]``.

    Raises:
        ValueError: a gold label outside ``labels`` (its F1 would silently drop out).
    """
    from sklearn.metrics import f1_score

    if labels is None:
        labels = sorted({str(x) for x in gold if x is not None})
    else:
        labels = [str(x) for x in labels]
        outside = sorted({str(x) for x in gold if x is not None} - set(labels))
        if outside:
            raise ValueError(f"macro F1: gold labels {', '.join(outside)} are not among the task's labels "
                             f"{', '.join(labels)}")
    return _estimate("macro F1", lambda g, p: float(f1_score(g, p, labels=labels, average="macro", zero_division=0)),
                     gold, predicted, confidence, resamples, seed)


def per_class(gold: Sequence[str | None], predicted: Sequence[str | None],
              labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Precision, recall, F1 and support (gold count) per label."""
    from sklearn.metrics import precision_recall_fscore_support

    g, p = _clean(gold, predicted)
    labels = list(labels) if labels is not None else sorted(set(g) - {MISSING})
    precision, recall, f1, support = precision_recall_fscore_support(g, p, labels=labels, zero_division=0)
    return pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support},
                        index=pd.Index(labels, name="label"))


def confusion(gold: Sequence[str | None], predicted: Sequence[str | None],
              labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Counts of (gold, predicted) pairs; a missing prediction is the column ``<none>``."""
    from sklearn.metrics import confusion_matrix

    g, p = _clean(gold, predicted)
    labels = list(labels) if labels is not None else sorted(set(g) - {MISSING})
    columns = labels + ([MISSING] if MISSING in set(p) else [])
    matrix = confusion_matrix(g, p, labels=columns)[: len(labels)]
    return pd.DataFrame(matrix, index=pd.Index(labels, name="gold"), columns=pd.Index(columns, name="predicted"))


def reweighted_accuracy(gold: Sequence[str | None], predicted: Sequence[str | None], prior: dict[str, float], *,
                        confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> Estimate:
    """Accuracy expected when the classes occur with ``prior`` (normalised to sum 1):
    ``sum_c prior(c) * recall(c)``, recall measured per gold class on these items."""
    total = sum(prior.values())
    if total <= 0:
        raise ValueError("the prior's weights must sum to more than 0")
    weights = {label: w / total for label, w in prior.items()}

    g, p = _clean(gold, predicted)
    absent = [label for label, w in weights.items() if w > 0 and label not in set(g)]
    if absent:
        raise ValueError(f"no gold item of class {', '.join(absent)}: its recall, hence the reweighted accuracy, "
                         "is unknown")
    hits = {label: (p[g == label] == label).astype(float) for label, w in weights.items() if w > 0}
    value = sum(weights[label] * float(h.mean()) for label, h in hits.items())
    # the interval: recall resampled within each gold class (a stratified bootstrap), as the
    # estimate is a fixed mix of per-class recalls
    rng = np.random.default_rng(seed)
    draws = sum(weights[label] * rng.choice(h, size=(resamples, len(h))).mean(axis=1) for label, h in hits.items())
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Estimate("reweighted accuracy", value, float(low), float(high), len(g), confidence)


def mean(values: Sequence[float], name: str = "mean", *, bounds: tuple[float, float] | None = None,
         confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> Estimate:
    """The mean of per-item values (a Jaccard index, a rubric mark, a paired difference) with
    its bootstrap percentile interval; missing values (None, NaN) are left out and not counted
    in n. With ``bounds`` (the values' range), one value or values all equal give that range
    as the interval; without, one value gives NaN (nothing bounds it) and equal values a point."""
    x = np.array([float(v) for v in values if v is not None and v == v], dtype=float)
    if len(x) == 0:
        raise ValueError(f"{name}: no values")
    low, high, method = _bounded(*_interval(lambda a, _b: float(np.mean(a)), x, x, confidence, resamples, seed),
                                 bounds)
    return Estimate(name, float(x.mean()), low, high, len(x), confidence, method)


def majority_label(labels: Sequence[str | None]) -> str:
    """The most frequent label (ties: the first in sorted order); missing ones are ignored."""
    counts = Counter(str(x) for x in labels if x is not None and x == x)
    if not counts:
        raise ValueError("no labels for the majority baseline")
    return max(sorted(counts), key=lambda label: counts[label])


def majority_baseline(train_labels: Sequence[str], gold: Sequence[str | None], *, confidence: float = 0.95,
                      resamples: int = 2000, seed: int = 0) -> Estimate:
    """Accuracy of always answering the most frequent train label (ties: the first in sorted
    order), on the same items as the model."""
    top = majority_label(train_labels)
    estimate = accuracy(gold, [top] * len(gold), confidence=confidence, resamples=resamples, seed=seed)
    return replace(estimate, name=f"majority baseline ({top})")


def calibration(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> tuple[float, pd.DataFrame]:
    """Expected calibration error (equal-width confidence bins, weighted by their share of
    items) and the reliability table (per bin: items, mean confidence, accuracy)."""
    conf = np.asarray(confidence, dtype=float)
    hit = np.asarray(correct, dtype=float)
    if conf.shape != hit.shape or conf.size == 0:
        raise ValueError("confidence and correct need the same, non-zero length")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        gap = abs(float(conf[mask].mean()) - float(hit[mask].mean()))
        ece += mask.mean() * gap
        rows.append({"bin": f"({edges[b]:.1f}, {edges[b + 1]:.1f}]", "items": int(mask.sum()),
                     "confidence": float(conf[mask].mean()), "accuracy": float(hit[mask].mean())})
    return float(ece), pd.DataFrame(rows)


@dataclass(frozen=True)
class McNemar:
    """McNemar's exact test: ``a_only`` items right only in run A, ``b_only`` right only in B."""

    a_only: int
    b_only: int
    statistic: float
    pvalue: float
    n: int


def mcnemar(gold: Sequence[str | None], predicted_a: Sequence[str | None],
            predicted_b: Sequence[str | None]) -> McNemar:
    """Whether two runs on the same items differ in accuracy (exact binomial McNemar test)."""
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    g, a = _clean(gold, predicted_a)
    _, b = _clean(gold, predicted_b)
    right_a, right_b = a == g, b == g
    table = [[int(np.sum(right_a & right_b)), int(np.sum(right_a & ~right_b))],
             [int(np.sum(~right_a & right_b)), int(np.sum(~right_a & ~right_b))]]
    result = sm_mcnemar(table, exact=True)
    return McNemar(table[0][1], table[1][0], float(result.statistic), float(result.pvalue), len(g))
