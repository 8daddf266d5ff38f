"""The folder adapter: every video or audio file below a directory becomes an item.

``dataset: {adapter: folder, path: /data/clips}`` needs no manifest. Rules:

* Media files are found recursively, any case of extension (:data:`MEDIA_EXTENSIONS`:
  ``clip.MP4`` counts); hidden files and folders (``.name``) are skipped. Zero-byte files
  are kept: the frame and audio stages report them as empty, one clear error each.
* The item id is the path relative to the folder without its extension, ``/`` kept
  (``trips/day1.mp4`` -> ``trips/day1``). When two files differ only by extension
  (``a.mp4``, ``a.mov``), both ids keep their extension (``a.mp4``, ``a.mov``), so ids stay
  unique and stable.
* A sidecar JSON next to a video, ``<file>.json`` (``clip.mp4.json``) or ``<stem>.json``
  (``clip.json``), is a manifest row for it: ``title``, ``description``, ``split``,
  ``labels`` (object), ``label`` / ``label_<task>``, ``metadata`` (object); other keys go
  into metadata, exactly as in a manifest (``pipelines/datasets/manifest.py``).
* A labels CSV — ``dataset.labels_file``, else ``<folder>/labels.csv`` when present — has a
  column ``id`` (the item id above) or ``path`` (relative to the folder), and any manifest
  column. Its values win over a sidecar's for the same field. A row that matches no media
  file is a load error (nothing is dropped in silence).
* Items come in sorted path order.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from pipelines.datasets.manifest import LOAD_STAGE, LoadedDataset, RowError, normalise_split, row_to_item
from pipelines.errors import DatasetError
from pipelines.records import ErrorRecord

MEDIA_EXTENSIONS = frozenset({
    ".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts",
    ".m4a", ".mp3", ".wav", ".aac", ".flac", ".ogg", ".opus",
})


def _error(item_id: str, reason: str) -> ErrorRecord:
    return ErrorRecord(item_id=item_id, stage=LOAD_STAGE, error_type="BadFolderEntry", reason=reason)


def media_files(root: Path) -> list[Path]:
    """Media files below ``root`` (sorted), hidden files and folders left out."""
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in MEDIA_EXTENSIONS:
            found.append(path)
    return sorted(found)


def item_ids(root: Path, files: list[Path]) -> dict[Path, str]:
    """Each file's id: its relative path without extension, or with it where two files share a stem."""
    stems: dict[str, int] = {}
    for file in files:
        stem = file.relative_to(root).with_suffix("").as_posix()
        stems[stem] = stems.get(stem, 0) + 1
    out = {}
    for file in files:
        rel = file.relative_to(root)
        stem = rel.with_suffix("").as_posix()
        out[file] = stem if stems[stem] == 1 else rel.as_posix()
    return out


def _sidecar(file: Path) -> dict[str, Any]:
    for candidate in (file.with_name(file.name + ".json"), file.with_suffix(".json")):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise RowError(f"sidecar {candidate.name} is not valid JSON ({exc})") from None
            if not isinstance(data, dict):
                raise RowError(f"sidecar {candidate.name} must hold a JSON object")
            return data
    return {}


def _label_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    text = path.read_bytes().decode("utf-8-sig", "replace")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return [(no, {k: v for k, v in row.items() if k is not None and v not in (None, "")})
            for no, row in enumerate(reader, start=2)]


def load_folder(path: str | Path, labels_file: str | Path | None = None, split: str | None = None) -> LoadedDataset:
    """Items for every media file below ``path`` (see the module docstring for the rules)."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root} (adapter folder needs a directory of videos)")
    labels_path = Path(labels_file) if labels_file else root / "labels.csv"
    if labels_file and not labels_path.is_file():
        raise DatasetError(f"labels file not found: {labels_path}")
    files = media_files(root)
    ids = item_ids(root, files)
    by_id = {ids[f]: f for f in files}
    by_path = {f.relative_to(root).as_posix(): f for f in files}

    out = LoadedDataset()
    extra: dict[Path, dict[str, Any]] = {}
    if labels_path.is_file():
        for line_no, row in _label_rows(labels_path):
            key = row.get("id") or row.get("item_id")
            target = by_id.get(str(key)) if key else by_path.get(str(row.get("path", "")).removeprefix("./"))
            if target is None:
                what = f"id {key!r}" if key else f"path {row.get('path')!r}"
                out.errors.append(_error(str(key or row.get("path") or f"{labels_path.name} row {line_no}"),
                                         f"{labels_path.name} row {line_no}: {what} matches no media file in {root}"))
                continue
            extra[target] = {k: v for k, v in row.items() if k not in ("id", "item_id", "path")}

    wanted = normalise_split(split)
    for line_no, file in enumerate(files, start=1):
        item_id = ids[file]
        try:
            row = {**_sidecar(file), **extra.get(file, {}), "id": item_id,
                   "path": file.relative_to(root).as_posix()}
            item = row_to_item(row, root, line_no)
        except RowError as exc:
            out.errors.append(_error(item_id, str(exc)))
            continue
        if wanted is None or item.split == wanted:
            out.items.append(item)
    return out
