"""Baselines beside the LLM: the majority class, and the supervised "network on content
embeddings" of Kayal et al. — a classifier on the ``embed`` vectors of the text
representations, fit on the train split — plus its combination with the LLM by a vote.

:func:`fit_embedding_classifier` fits scikit-learn's logistic regression (``logreg``) or a
small MLP (``mlp``: one hidden layer of 64) on the train items, reports its cross-validated
train accuracy (stratified k-fold, k ≤ the smallest class count) and predicts the other items
with a confidence (the predicted class's probability). :func:`write_nn_predictions` writes
those predictions in the file format ``predict.nn_predictions`` reads (mode
``hypotheses_nn``: the LLM sees the network's answer). :func:`vote` combines the LLM's and the
network's answers: the same label stands, a disagreement goes to the more confident one.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MODELS = ("logreg", "mlp")


def embeddings(run: Any) -> tuple[list[str], np.ndarray]:
    """The run's item ids and their ``embed`` vectors as one matrix (rows in id order)."""
    frame = run["embed"].sort_values("item_id")
    vectors = [np.frombuffer(base64.b64decode(v), dtype="<f4") for v in frame["vector_b64"]]
    return frame["item_id"].tolist(), np.vstack(vectors)


@dataclass
class Fitted:
    """A classifier's predictions for the items it was not fit on, and how it did on train."""

    model: str
    predictions: pd.DataFrame  # item_id, label, confidence
    cv_accuracy: float | None  # mean over the folds; None when a class has fewer than 2 items
    folds: int
    train_items: int


def _classifier(model: str, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    if model == "mlp":
        return make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,), max_iter=2000,
                                                             random_state=seed))
    raise ValueError(f"unknown model {model!r}; use one of {', '.join(MODELS)}")


def fit_embedding_classifier(run: Any, model: str = "logreg", *, folds: int = 5, seed: int = 0,
                             train_split: str = "train") -> Fitted:
    """Fits ``model`` on the embeddings of the labelled ``train_split`` items; predicts all others.

    Raises:
        ValueError: Without an ``embed`` stage, or with fewer than two labelled classes in train.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    if "embed" not in run.stages:
        raise ValueError(f"run {run.run_id} has no embed records: add the embed stage to the config")
    ids, matrix = embeddings(run)
    items = run.items.set_index("item_id")
    split = items["split"].reindex(ids)
    gold = items["gold"].reindex(ids)
    train = np.array([(s == train_split) and pd.notna(g) for s, g in zip(split, gold)])
    y = gold[train].astype(str).to_numpy()
    if len(set(y)) < 2:
        raise ValueError(f"the {train_split} split needs labelled items of at least two classes "
                         f"(found {sorted(set(y)) or 'none'})")
    k = min(folds, int(min(pd.Series(y).value_counts())))
    cv = None
    if k >= 2:
        scores = cross_val_score(_classifier(model, seed), matrix[train], y,
                                 cv=StratifiedKFold(n_splits=k, shuffle=True, random_state=seed))
        cv = float(np.mean(scores))
    classifier = _classifier(model, seed).fit(matrix[train], y)
    rest = ~train
    probabilities = classifier.predict_proba(matrix[rest]) if rest.any() else np.zeros((0, len(set(y))))
    classes = list(classifier.classes_)
    rows = [{"item_id": item_id, "label": classes[int(np.argmax(p))], "confidence": round(float(np.max(p)), 4)}
            for item_id, p in zip(np.array(ids)[rest], probabilities)]
    return Fitted(model, pd.DataFrame(rows, columns=["item_id", "label", "confidence"]), cv, k, int(train.sum()))


def write_nn_predictions(predictions: pd.DataFrame, path: str | Path) -> Path:
    """The predictions as the CSV ``predict.nn_predictions`` reads (``item_id,label,confidence``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    predictions[["item_id", "label", "confidence"]].to_csv(path, index=False)
    return path


def vote(llm: pd.DataFrame, network: pd.DataFrame) -> pd.DataFrame:
    """LLM + network: where they agree the label stands; where they disagree, the answer with
    the higher confidence wins (the LLM on a tie). Items either lacks keep the other's answer."""
    a = llm.set_index("item_id")[["predicted", "confidence"]].rename(columns={"predicted": "label"})
    b = network.set_index("item_id")[["label", "confidence"]]
    rows = []
    for item_id in sorted(set(a.index) | set(b.index)):
        first = a.loc[item_id] if item_id in a.index else None
        second = b.loc[item_id] if item_id in b.index else None
        if first is None or (second is not None and (second["confidence"] or 0) > (first["confidence"] or 0)):
            chosen = second
        else:
            chosen = first
        rows.append({"item_id": item_id, "label": chosen["label"], "confidence": chosen["confidence"]})
    return pd.DataFrame(rows, columns=["item_id", "label", "confidence"])


def comparison_table(run: Any, *, models: tuple[str, ...] = MODELS, seed: int = 0) -> pd.DataFrame:
    """One row per method on the run's labelled predicted items: the LLM, the majority
    baseline, each embedding classifier and its vote with the LLM — accuracy and macro-F1
    with 95 % intervals, and n."""
    from analysis import metrics

    preds = run.predictions.dropna(subset=["gold"])
    if preds.empty:
        raise ValueError(f"run {run.run_id} has no labelled predictions")
    gold = dict(zip(preds["item_id"], preds["gold"]))
    ids = sorted(gold)

    def row(method: str, labels: dict[str, Any], note: str = "") -> dict[str, Any]:
        predicted = [labels.get(i) for i in ids]
        truth = [gold[i] for i in ids]
        acc, f1 = metrics.accuracy(truth, predicted), metrics.macro_f1(truth, predicted, labels=run.task_labels)
        return {"method": method, "n": acc.n, "accuracy": acc.value, "accuracy_low": acc.low,
                "accuracy_high": acc.high, "macro_f1": f1.value, "macro_f1_low": f1.low, "macro_f1_high": f1.high,
                "note": note}

    rows = [row("LLM", dict(zip(preds["item_id"], preds["predicted"])), str(run.predictions["mode"].iloc[0]))]
    train = run.items[run.items["split"] == "train"]["gold"].dropna().tolist()
    base = metrics.majority_baseline(train or [gold[i] for i in ids], [gold[i] for i in ids])
    majority = base.name.removeprefix("majority baseline (").removesuffix(")")
    rows.append(row("majority class", {i: majority for i in ids}, f"always {majority}"))
    for model in models:
        fitted = fit_embedding_classifier(run, model, seed=seed)
        labels = dict(zip(fitted.predictions["item_id"], fitted.predictions["label"]))
        cv = "n/a" if fitted.cv_accuracy is None else f"{fitted.cv_accuracy:.3f}"
        rows.append(row(f"{model} on embeddings", labels,
                        f"fit on {fitted.train_items} train items; {fitted.folds}-fold CV accuracy {cv}"))
        voted = vote(preds, fitted.predictions)
        rows.append(row(f"LLM + {model} vote", dict(zip(voted["item_id"], voted["label"])), "higher confidence wins"))
    return pd.DataFrame(rows)
