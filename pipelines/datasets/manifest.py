"""The generic manifest adapter: CSV, JSONL or Parquet, one row per video.

Columns (JSONL keys): ``id`` (or ``item_id`` / ``video_id``), ``path`` (or ``video``, relative to
the data root), ``title``, ``description``, ``split``, ``labels`` (an object; in CSV, columns
``label_<name>``, ``labels.<name>`` or a single ``label``), ``truth`` (an object, JSONL only:
known facts used by tests) and ``metadata`` (an object); any other column goes into
``metadata``, which the model sees only for the fields named in ``summarize.metadata_fields``.
Split names are compared without case or surrounding spaces (``Train`` is ``train``).

A bad row never stops the others: it becomes an :class:`ErrorRecord` of the pseudo-stage
``load_items`` (bad UTF-8, a path that escapes the data root, a missing or duplicate id).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.errors import DatasetError
from pipelines.records import ErrorRecord, Item

LOAD_STAGE = "load_items"
ID_KEYS = ("id", "item_id", "video_id")
PATH_KEYS = ("path", "video")
KNOWN = {*ID_KEYS, *PATH_KEYS, "title", "description", "split", "labels", "label", "truth", "metadata"}


@dataclass
class LoadedDataset:
    items: list[Item] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what loading changed, e.g. split names case-folded


class RowError(ValueError):
    pass


def _error(item_id: str, reason: str) -> ErrorRecord:
    return ErrorRecord(item_id=item_id, stage=LOAD_STAGE, error_type="BadManifestRow", reason=reason)


def safe_media_path(root: Path, relative: str) -> Path:
    """``root / relative``, refusing paths that lead outside ``root`` (checked lexically, so
    a symlink the user placed inside the data root is still followed)."""
    root = Path(os.path.abspath(root))
    candidate = Path(os.path.normpath(root / relative))
    if candidate != root and root not in candidate.parents:
        raise RowError(f"path {relative!r} escapes the data root {root}; keep media inside it or set dataset.data_root")
    return candidate


def _check_text(row: dict[str, Any]) -> None:
    for key, value in row.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                bad = value.encode("utf-8", "surrogateescape")
                raise RowError(
                    f"field {key!r} is not valid UTF-8 ({bad[:40]!r}); re-save the manifest as UTF-8"
                ) from None


def _row_id(row: dict[str, Any], line_no: int) -> str:
    for key in ID_KEYS:
        value = row.get(key)
        if value not in (None, ""):
            return str(value)
    return f"row-{line_no}"


def _mapping(row: dict[str, Any], key: str) -> dict[str, Any]:
    value = row.get(key)
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise RowError(f"field {key!r} must be an object (a JSON mapping), not {type(value).__name__}")
    return dict(value)


def row_to_item(row: dict[str, Any], root: Path, line_no: int) -> Item:
    """One manifest row as an :class:`Item` (raises :class:`RowError` with the reason)."""
    if not any(row.get(k) not in (None, "") for k in ID_KEYS):
        raise RowError(f"row {line_no} has no id (columns {', '.join(ID_KEYS)})")
    _check_text(row)
    raw_id = _row_id(row, line_no)
    if raw_id != raw_id.strip() or any(ord(c) < 32 for c in raw_id):
        raise RowError(f"id {raw_id!r} has surrounding spaces or control characters")
    for key, value in row.items():
        if isinstance(value, str) and "\x00" in value:
            raise RowError(f"field {key!r} contains a NUL byte")
    item_id = _row_id(row, line_no)
    video = next((str(row[k]) for k in PATH_KEYS if row.get(k) not in (None, "")), None)
    video_path = str(safe_media_path(root, video)) if video else None

    labels = _mapping(row, "labels")
    if row.get("label") not in (None, ""):
        labels.setdefault("label", row["label"])
    metadata = _mapping(row, "metadata")
    for key, value in row.items():
        if key.startswith(("label_", "labels.")) and value not in (None, ""):
            labels[key.split("_" if key.startswith("label_") else ".", 1)[1]] = value
        elif key.startswith(("label_", "labels.")):
            continue
        elif key not in KNOWN and value not in (None, ""):
            metadata[key] = value
    return Item(
        item_id=item_id,
        video=video,
        video_path=video_path,
        title=str(row.get("title") or ""),
        description=str(row.get("description") or ""),
        metadata=metadata,
        labels=labels,
        split=normalise_split(row.get("split")),
        truth=_mapping(row, "truth"),
    )


def normalise_split(value: Any) -> str | None:
    """A split name without case or surrounding spaces; ``None`` for an empty one."""
    if value in (None, "") or _is_missing(value):
        return None
    return str(value).strip().casefold() or None


def _read_rows(path: Path) -> list[tuple[int, dict[str, Any] | RowError]]:
    suffix = path.suffix.lower()
    rows: list[tuple[int, dict[str, Any] | RowError]] = []
    if suffix in (".jsonl", ".ndjson"):
        for no, raw in enumerate(path.read_bytes().splitlines(), start=1):
            if not raw.strip():
                continue
            text = raw.decode("utf-8", "surrogateescape")
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                rows.append((no, RowError(f"line {no} is not valid JSON: {exc.msg}")))
                continue
            rows.append((no, obj) if isinstance(obj, dict) else (no, RowError(f"line {no} is not a JSON object")))
    elif suffix in (".csv", ".tsv"):
        text = path.read_bytes().decode("utf-8-sig", "surrogateescape")
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",")
        for no, row in enumerate(reader, start=2):
            rows.append((no, {k: v for k, v in row.items() if k is not None}))
    elif suffix == ".parquet":
        import pandas as pd

        frame = pd.read_parquet(path)
        for no, row in enumerate(frame.to_dict(orient="records"), start=1):
            rows.append((no, {k: (None if _is_missing(v) else v) for k, v in row.items()}))
    else:
        raise DatasetError(f"manifest {path} must be .csv, .tsv, .jsonl or .parquet")
    return rows


def _is_missing(value: Any) -> bool:
    try:
        return value != value  # NaN
    except Exception:
        return False


def load_manifest(path: str | Path, data_root: str | Path | None = None, split: str | None = None) -> LoadedDataset:
    """Read a manifest; media paths are resolved against ``data_root`` (default: its folder)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"manifest not found: {path} (relative paths are resolved from the current directory)"
        )
    root = Path(data_root) if data_root else path.parent
    out = LoadedDataset()
    seen: set[str] = set()
    folded: dict[str, str] = {}
    split = normalise_split(split)
    for line_no, row in _read_rows(path):
        raw_split = row.get("split") if isinstance(row, dict) else None
        if isinstance(raw_split, str) and normalise_split(raw_split) not in (None, raw_split):
            folded[raw_split] = str(normalise_split(raw_split))
        if isinstance(row, RowError):
            out.errors.append(_error(f"row-{line_no}", str(row)))
            continue
        item_id = _row_id(row, line_no)
        try:
            item = row_to_item(row, root, line_no)
        except RowError as exc:
            out.errors.append(_error(item_id.encode("utf-8", "replace").decode("utf-8"), str(exc)))
            continue
        if item.item_id in seen:
            out.errors.append(_error(f"{item.item_id} (row {line_no})",
                                     f"duplicate id {item.item_id!r} (row {line_no}); ids must be unique; this row was left out"))
            continue
        seen.add(item.item_id)
        if split is None or item.split == split:
            out.items.append(item)
    if folded:
        out.notes.append("split names case-folded: " + ", ".join(f"{a!r} -> {b!r}" for a, b in sorted(folded.items())))
    return out
