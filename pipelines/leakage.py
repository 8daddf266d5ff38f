"""The gold label must never reach the model's text.

Two guards, both before any work is done:

* :func:`check_text_fields` (config time): a metadata field that *defines* the label
  (popularity: view counts, trending countries; any task: ``label*`` fields) can never be
  shown to the model, whatever the config says.
* :func:`check_leakage` (load time, on the real data): a text field the model reads (title,
  description, each shown metadata field) whose value equals or contains the item's gold
  label for most labelled items is refused, naming the field. "Contains" compares words,
  ignoring case and the difference between ``-``, ``_`` and spaces (``Local hit`` contains
  ``local-hit``); a gold label of fewer than three characters (``1``, ``A``) must equal the
  whole value, since such short strings occur in text by chance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pipelines.errors import ConfigError

MOST = 0.5  # refuse a field that carries the label for more than this share of labelled items


def _words(text: Any) -> str:
    return " ".join(re.sub(r"[-_\s]+", " ", str(text).casefold()).split())


def carries_label(value: Any, gold: Sequence[str]) -> bool:
    """Whether ``value`` equals or contains (as whole words) any spelling in ``gold``."""
    text = _words(value)
    if not text:
        return False
    for label in gold:
        label = _words(label)
        if not label:
            continue
        if text == label or (len(label) >= 3 and re.search(rf"(?<!\w){re.escape(label)}(?!\w)", text)):
            return True
    return False


def check_text_fields(task: Any, metadata_fields: Sequence[str]) -> None:
    """Refuse (one line) metadata fields that define the task's label."""
    bad = [f for f in metadata_fields if task.defines_label(f)]
    if bad:
        raise ConfigError(
            f"summarize.metadata_fields: {', '.join(map(repr, bad))} define the {task.name} label and can "
            "never be shown to the model; remove them from the list"
        )


def text_values(item: Any, field: str) -> Any:
    return getattr(item, field) if field in ("title", "description") else item.metadata.get(field)


def check_leakage(items: Sequence[Any], task: Any, fields: Sequence[str]) -> None:
    """Refuse a text field that carries the gold label for most labelled items.

    Args:
        items: the dataset's items.
        task: the task spec (label key, label normalisation).
        fields: what the model reads: ``title``, ``description`` and metadata field names.
    """
    labelled = []
    for item in items:
        raw = task.raw_label(item.labels)
        label = task.normalise_label(raw)
        if label is not None:
            labelled.append((item, [label, str(raw)]))
    if not labelled:
        return
    for field in fields:
        hits = sum(carries_label(text_values(item, field), gold) for item, gold in labelled)
        if hits > MOST * len(labelled):
            where = field if field in ("title", "description") else f"metadata field {field!r}"
            raise ConfigError(
                f"{where} contains the gold {task.name} label for {hits} of {len(labelled)} labelled items: "
                "the answer would reach the model; "
                + ("remove the labels from that text" if field in ("title", "description")
                   else "leave it out of summarize.metadata_fields")
            )
