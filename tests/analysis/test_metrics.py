"""analysis.metrics against the libraries that define them: point values equal
scikit-learn's (macro-F1 also over a task's labels), McNemar equals statsmodels on a hand-made
table, the bootstrap interval of a known binomial case covers the truth at about its nominal
rate, and a share of few items has statsmodels' and SciPy's Wilson interval, never a point or
NaN; repeated claims of one video are resampled together."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

from analysis import metrics

GOLD = ["local", "local", "global", "global", "global", "local", "global", "local", "local", "global", "global", "local"]
PRED = ["local", "global", "global", "global", "local", "local", "global", "local", "global", "global", None, "local"]


def test_point_values_equal_scikit_learn():
    gold, pred = np.array(GOLD), np.array(["<none>" if p is None else p for p in PRED])
    assert metrics.accuracy(GOLD, PRED).value == pytest.approx(accuracy_score(gold, pred))
    assert metrics.balanced_accuracy(GOLD, PRED).value == pytest.approx(balanced_accuracy_score(gold, pred))
    labels = ["global", "local"]
    assert metrics.macro_f1(GOLD, PRED).value == pytest.approx(f1_score(gold, pred, labels=labels, average="macro"))
    table = metrics.per_class(GOLD, PRED)
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    assert table["precision"].tolist() == pytest.approx(list(p)) and table["recall"].tolist() == pytest.approx(list(r))
    assert table["f1"].tolist() == pytest.approx(list(f)) and table["support"].tolist() == list(s)
    matrix = metrics.confusion(GOLD, PRED)
    assert list(matrix.columns) == ["global", "local", "<none>"]  # the missing prediction is shown, not dropped
    assert matrix[labels].to_numpy().tolist() == confusion_matrix(gold, pred, labels=labels).tolist()
    assert int(matrix.to_numpy().sum()) == len(GOLD)


def test_every_estimate_has_an_interval_around_it_and_its_n():
    estimate = metrics.accuracy(GOLD, PRED)
    assert estimate.n == len(GOLD) and estimate.low <= estimate.value <= estimate.high
    assert 0 < estimate.low < estimate.high < 1
    assert metrics.accuracy(GOLD, PRED) == estimate  # a fixed seed: the same table twice


def test_bootstrap_interval_covers_a_known_accuracy_at_about_the_nominal_rate():
    rng = np.random.default_rng(7)
    truth, n, draws = 0.7, 120, 200
    covered = 0
    for draw in range(draws):
        right = rng.random(n) < truth
        gold = ["a"] * n
        pred = ["a" if r else "b" for r in right]
        estimate = metrics.accuracy(gold, pred, resamples=500, seed=draw)
        covered += estimate.low <= truth <= estimate.high
    assert 0.89 <= covered / draws <= 0.99, covered / draws


def test_reweighting_to_a_prior_weights_each_class_recall():
    gold = ["local"] * 4 + ["global"] * 4
    pred = ["local"] * 4 + ["global", "local", "local", "local"]  # recall: local 1.0, global 0.25
    assert metrics.accuracy(gold, pred).value == pytest.approx(0.625)
    assert metrics.reweighted_accuracy(gold, pred, {"local": 0.9, "global": 0.1}).value == pytest.approx(0.925)
    assert metrics.reweighted_accuracy(gold, pred, {"local": 1, "global": 1}).value == pytest.approx(0.625)
    with pytest.raises(ValueError, match="no gold item of class viral"):
        metrics.reweighted_accuracy(gold, pred, {"viral": 1.0})


def test_majority_baseline_answers_the_most_frequent_train_label():
    baseline = metrics.majority_baseline(["local"] * 5 + ["global"] * 3, GOLD)
    assert baseline.name == "majority baseline (local)"
    assert baseline.value == pytest.approx(GOLD.count("local") / len(GOLD))


def test_mcnemar_equals_statsmodels_on_a_fixed_table():
    gold = ["x"] * 20
    # A right on 12, B right on 7: both right 5, only A 7, only B 2, neither 6
    a = ["x"] * 5 + ["x"] * 7 + ["y"] * 2 + ["y"] * 6
    b = ["x"] * 5 + ["y"] * 7 + ["x"] * 2 + ["y"] * 6
    result = metrics.mcnemar(gold, a, b)
    expected = sm_mcnemar([[5, 7], [2, 6]], exact=True)
    assert (result.a_only, result.b_only, result.n) == (7, 2, 20)
    assert result.pvalue == pytest.approx(expected.pvalue) and result.statistic == pytest.approx(expected.statistic)


def test_calibration_error_of_a_known_case():
    # bin (0.8, 0.9]: 4 items at 0.85 confidence, 2 right -> gap 0.35; bin (0.5, 0.6]: 4 at 0.55, 2 right -> gap 0.05
    ece, table = metrics.calibration([0.85] * 4 + [0.55] * 4, [1, 1, 0, 0, 1, 1, 0, 0])
    assert ece == pytest.approx(0.5 * 0.35 + 0.5 * 0.05)
    assert table["items"].tolist() == [4, 4] and table["accuracy"].tolist() == [0.5, 0.5]


def test_mean_with_interval_leaves_missing_values_out():
    from analysis.metrics import mean

    values = [0.0, 0.5, 1.0, None, float("nan"), 0.5]
    estimate = mean(values, "jaccard")
    assert estimate.n == 4 and estimate.value == pytest.approx(0.5)
    assert estimate.low <= 0.5 <= estimate.high and 0.0 <= estimate.low and estimate.high <= 1.0
    with pytest.raises(ValueError):
        mean([None], "empty")


def test_items_without_a_gold_label_are_left_out_and_said_so():
    """A DataFrame of a run with unlabelled test items holds None or NaN as their gold: they
    cannot be right or wrong, so they leave the n; a missing prediction stays wrong."""
    gold = ["a", None, float("nan"), "b", "a"]
    predicted = ["a", "a", "b", None, "b"]
    with pytest.warns(UserWarning, match="2 of 5 items have no gold label"):
        estimate = metrics.accuracy(gold, predicted)
    assert (estimate.value, estimate.n) == (pytest.approx(1 / 3), 3)
    with pytest.warns(UserWarning, match="2 of 5"):
        assert metrics.balanced_accuracy(gold, predicted).n == 3


def test_a_perfect_score_on_few_items_has_the_wilson_interval_not_a_point():
    estimate = metrics.accuracy(["a"] * 16, ["a"] * 16)
    assert estimate.value == 1.0 and estimate.low < 1.0 and estimate.high == pytest.approx(1.0)
    assert (estimate.low, estimate.high) == pytest.approx(proportion_confint(16, 16, alpha=0.05, method="wilson"))
    scipy_ci = binomtest(16, 16).proportion_ci(confidence_level=0.95, method="wilson")
    assert (estimate.low, estimate.high) == pytest.approx((scipy_ci.low, scipy_ci.high))
    assert estimate.method == "wilson" and estimate.small_n
    wrong = metrics.accuracy(["a", "a"], ["b", "b"])  # was 0.000 [0.000, 0.000] at n = 2
    assert wrong.low == 0.0 and wrong.high > 0
    assert wrong.high == pytest.approx(proportion_confint(0, 2, method="wilson")[1])


def test_one_item_gives_an_interval_never_nan():
    right = metrics.accuracy(["a"], ["a"])
    assert (right.low, right.high) == pytest.approx(proportion_confint(1, 1, method="wilson")) and right.low > 0
    for fn in (metrics.balanced_accuracy, metrics.macro_f1):  # not a share: the whole range, documented
        estimate = fn(["a"], ["a"])
        assert (estimate.low, estimate.high) == (0.0, 1.0) and estimate.method == "range" and estimate.n == 1
    assert not np.isnan([metrics.majority_baseline(["a"], ["b"]).low, metrics.mean([0.5], bounds=(0, 1)).low]).any()
    with pytest.raises(ValueError, match="no items"):
        metrics.accuracy([], [])  # n = 0: no estimate


def test_small_n_is_flagged_below_thirty_items():
    assert metrics.accuracy(GOLD, PRED).small_n
    large = metrics.accuracy(["a"] * 40, ["a"] * 30 + ["b"] * 10)
    assert not large.small_n and large.method == "bootstrap" and large.low < 0.75 < large.high


def test_macro_f1_over_the_tasks_labels_equals_scikit_learn():
    gold, pred = ["a"] * 4, ["a", "a", "b", "b"]
    assert metrics.macro_f1(gold, pred).value == pytest.approx(2 / 3)  # over the gold classes: a only
    over_task = metrics.macro_f1(gold, pred, labels=["a", "b"])
    assert over_task.value == pytest.approx(1 / 3)
    assert over_task.value == pytest.approx(f1_score(gold, pred, labels=["a", "b"], average="macro"))
    g, p = np.array(GOLD), np.array(["<none>" if x is None else x for x in PRED])
    labels = ["global", "local", "viral"]  # a task label neither gold nor the model used
    assert metrics.macro_f1(GOLD, PRED, labels=labels).value == pytest.approx(
        f1_score(g, p, labels=labels, average="macro", zero_division=0))
    with pytest.raises(ValueError, match="not among the task's labels"):
        metrics.macro_f1(GOLD, PRED, labels=["local"])


def test_claims_are_resampled_by_video():
    once = [True, True, False, False]
    videos = ["v1", "v2", "v3", "v4"]
    repeated = [flag for flag in once for _ in range(10)]  # one sentence said on every frame
    per_frame = metrics.proportion(repeated, "hallucination rate", clusters=[v for v in videos for _ in range(10)])
    naive = proportion_confint(20, 40, method="wilson")
    assert per_frame.value == 0.5 and per_frame.method == "cluster bootstrap"
    assert per_frame.low < naive[0] and per_frame.high > naive[1]  # ten copies are not ten videos
    assert (per_frame.low, per_frame.high) == (metrics.proportion(once, clusters=videos).low,
                                               metrics.proportion(once, clusters=videos).high)
    single = metrics.proportion(repeated[:10], clusters=["v1"] * 10)  # one video: nothing to resample
    assert single.method == "wilson" and (single.low, single.high) == pytest.approx(
        proportion_confint(10, 10, method="wilson"))
