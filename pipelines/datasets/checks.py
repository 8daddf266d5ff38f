"""What the runner checks about a loaded dataset before any work, so nothing is dropped in silence.

Decisions, per case:

* a gold label outside the task's label set (``viral`` for popularity) → a row error of
  ``load_items`` (the row is left out and named; exit code 3), since scoring or retrieving
  with it would be wrong;
* a label written another way (``Local Hit``) → accepted, and the case-folding is reported;
* a split that no stage of the config uses (``training`` when the stages use ``train`` and
  ``test``, or no split at all) → a warning with the counts;
* ``--limit N`` takes the first N items *of each split*, in manifest order, so a small trial
  keeps both the labelled train items retrieval needs and the test items that are predicted.

After the run, :func:`outcome_warnings` adds: a split-restricted stage that applied to no
item, and a retrieval index that held no labelled item.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from pipelines.records import ErrorRecord, Item


def take_first_per_split(items: list[Item], limit: int | None) -> list[Item]:
    """The first ``limit`` items of each split (items without a split count as one split)."""
    if limit is None:
        return list(items)
    taken: Counter[str | None] = Counter()
    out = []
    for item in items:
        if taken[item.split] < limit:
            taken[item.split] += 1
            out.append(item)
    return out


def check_labels(items: list[Item], task: Any) -> tuple[list[Item], list[ErrorRecord], list[str]]:
    """Items whose gold label (if any) is in the task's set, with the label written in its
    normal form under the task's label key (so every later reader — retrieval, the run's
    items, ``analysis`` — sees one spelling); row errors for the others; and a note on the
    labels that were normalised (``'Local Hit' -> 'local-hit' (3)``)."""
    from pipelines.datasets.manifest import LOAD_STAGE

    kept, errors, folded = [], [], Counter()
    for item in items:
        raw = task.raw_label(item.labels)
        if raw in (None, ""):
            kept.append(item)
            continue
        label = task.normalise_label(raw)
        if label is None:
            errors.append(ErrorRecord(
                item_id=item.item_id, stage=LOAD_STAGE, error_type="BadLabel",
                reason=f"label {task.label_key}={raw!r} is not one of {', '.join(task.labels)}"
                       + (f" or a scale value {sorted(task.scale)}" if task.scale else "")
                       + "; fix the row or leave its label empty",
            ))
            continue
        if str(raw) != label:
            folded[f"{raw!r} -> {label!r}"] += 1
            item = item.model_copy(update={"labels": {**item.labels, task.label_key: label}})
        kept.append(item)
    notes = ["labels normalised: " + ", ".join(f"{k} ({v})" for k, v in sorted(folded.items()))] if folded else []
    return kept, errors, notes


CANONICAL_SPLITS = ("train", "test")


def used_splits(config: Any) -> set[str]:
    """The split names the config knows: ``train`` and ``test`` (the defaults of the stages
    that restrict splits) and every name a stage names in ``splits`` / ``index_splits``."""
    used: set[str] = set(CANONICAL_SPLITS)
    for name in config.stages:
        cfg = config.stage_config(name)
        for key in ("splits", "index_splits"):
            used.update(getattr(cfg, key, None) or [])
    return used


def restricts_splits(config: Any) -> bool:
    """Whether any stage of the config runs on some splits only (``splits`` / ``index_splits``
    set): without one (a film exam on every clip), split names do not matter."""
    return any(getattr(config.stage_config(name), key, None) is not None
               for name in config.stages for key in ("splits", "index_splits"))


def split_warnings(items: list[Item], config: Any) -> list[str]:
    """A warning naming the split values (and missing splits) that the config does not know:
    such items are never retrieved as examples nor predicted."""
    if not restricts_splits(config):
        return []
    used = used_splits(config)
    unused = Counter("(none)" if i.split is None else i.split for i in items if i.split not in used)
    if not unused:
        return []
    listed = ", ".join(f"{s!r}: {n}" for s, n in sorted(unused.items()))
    return [f"{sum(unused.values())} items have a split that no stage uses ({listed}); the stages use "
            f"{', '.join(sorted(used))}: rename the splits in the manifest or set the stages' splits"]


def outcome_warnings(config: Any, stats: dict[str, Any], records: dict[str, dict[str, Any]]) -> list[str]:
    """Warnings about what the run did: stages that applied to no item, empty retrieval indexes."""
    out = []
    for name, s in stats.items():
        if s.items and s.not_applicable == s.items:
            splits = getattr(config.stage_config(name), "splits", None)
            out.append(f"{name} applied to no item (it runs on splits {splits}); no {name} records were made")
    empty = [r for r in records.get("retrieve_similar", {}).values() if getattr(r, "index_size", 1) == 0]
    if empty:
        splits = config.stage_config("retrieve_similar").index_splits
        out.append(f"retrieve_similar: the index holds no labelled item of splits {splits}; "
                   f"{len(empty)} items got no neighbours (give train items a label and a split in {splits})")
    return out


def hidden_metadata(items: list[Item], shown: list[str]) -> list[str]:
    """Metadata fields present in the dataset that the model does not see (kept for analysis)."""
    present = sorted({k for i in items for k, v in i.metadata.items() if v not in (None, "")})
    return [k for k in present if k not in shown]


def dataset_fingerprint(cfg: Any) -> dict[str, Any]:
    """What identifies the dataset's content: a manifest file's sha256; for a folder, the
    sha256 of its listing (relative path, size, modification time) — cheap, and it changes
    when a file is added, removed or replaced."""
    path = Path(cfg.path)
    out: dict[str, Any] = {"adapter": cfg.adapter, "path": str(path.resolve())}
    if path.is_file():
        from pipelines.files import sha256_file

        out["sha256"] = sha256_file(path)
    elif path.is_dir():
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
            stat = file.stat()
            digest.update(f"{file.relative_to(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        out["listing_sha256"] = digest.hexdigest()
    labels_file = getattr(cfg, "labels_file", None)
    if labels_file and Path(labels_file).is_file():
        from pipelines.files import sha256_file

        out["labels_file_sha256"] = sha256_file(Path(labels_file))
    shots_file = getattr(cfg, "shots_file", None)
    if shots_file and Path(shots_file).is_file():
        from pipelines.files import sha256_file

        out["shots_file_sha256"] = sha256_file(Path(shots_file))
    metadata_dir = getattr(cfg, "metadata_dir", None)
    if metadata_dir and Path(metadata_dir).is_dir():
        digest = hashlib.sha256()
        for file in sorted(Path(metadata_dir).glob("*.json")):
            digest.update(f"{file.name}\0{file.stat().st_size}\0{file.stat().st_mtime_ns}\n".encode())
        out["metadata_listing_sha256"] = digest.hexdigest()
    return out
