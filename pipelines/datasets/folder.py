"""The folder adapter: every video or audio file below a directory is one item.

``dataset: {adapter: folder, path: clips/}`` needs no manifest. Rules:

Which files
    Every file below ``path``, recursively, whose extension in any case (``.mp4``, ``.MP4``)
    is in :data:`MEDIA_EXTENSIONS`. Hidden files and folders (a name starting with ``.``, e.g.
    macOS ``._clip.mp4``) are skipped, and so is whatever is not media (sidecar ``.json``,
    ``labels.csv``, notes). Symlinked files are items; a symlinked folder is followed when it
    leads outside ``path`` and read once however many links reach it; one that leads back
    inside (or loops) is not entered, since its files load under their own path; each case is
    a note of the load. Nothing that looks like media is dropped in silence: a zero-byte file
    is still an item (``extract_frames`` then says "video file is empty (0 bytes)"), and a
    file name that cannot be an id (not UTF-8, control characters, surrounding spaces) or a
    folder that cannot be read is a ``load_items`` error.

Item ids
    The path relative to ``path`` without its extension, ``/`` kept: ``trips/day1.MP4`` is
    ``trips/day1``. Files whose ids would clash (``a.mp4`` and ``a.MOV`` in one folder) keep
    their extension instead (``a.MOV``, ``a.mp4``), repeated until every id is unique, so
    all of them load. An id is stable while the folder's files stay the same; adding ``a.MOV``
    beside ``a.mp4`` changes the latter's id from ``a`` to ``a.mp4``. Items come sorted by id
    (code-point order), whatever order the file system lists them in.

Sidecars
    ``clip.mp4.json`` next to ``clip.mp4``, or ``clip.json`` when no other media file in that
    folder has the stem ``clip``, holds a JSON object read exactly like a manifest row (see
    :mod:`pipelines.datasets.manifest`): ``title``, ``description``, ``split``, ``labels`` (an
    object), ``label``, ``label_<task>``, ``truth`` and ``metadata`` (objects); any other key
    goes into ``metadata``, and so do ``id``/``item_id``/``video_id``/``path``/``video`` (the
    file, never its sidecar, decides the id and the path). A sidecar that is not a JSON object,
    or a file with both forms, makes that item a load error; a ``clip.json`` that fits several
    files is a load error of its own (named ``clip.json``) and those files load without it.

Labels file
    ``labels_file`` from the config (relative to the current directory), else ``labels.csv``
    directly in ``path`` when present; read like a manifest (CSV, TSV, JSONL or Parquet). It
    needs a column ``id`` (an item id as above) or ``path`` (the file relative to ``path``),
    or both (then they must name the same file); any other column is merged into the item as a
    manifest column would be (``label``, ``label_<task>``, ``split``, ``title``, ...).
    **The labels file wins over a sidecar**, field by field (one label, one metadata key, the
    title): it is the curated table, usually made after the clips came with their sidecars.
    An empty cell never erases a sidecar's value. A row that names no media file ("file not
    found"), an ambiguous id (``a`` when ``a.mp4`` and ``a.MOV`` exist), a path outside the
    folder, and a second row for the same file are load errors, one each; a bad value in the
    row of an existing file (bad UTF-8, ``labels`` not an object) makes that item a load error.

``split`` keeps the items of that split (compared without case, as in a manifest) after
merging; load errors are reported whatever their split. A missing folder or labels file raises
:class:`DatasetError`; an empty folder gives an empty :class:`LoadedDataset`.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath
from typing import Any

from pipelines.datasets.manifest import (
    ID_KEYS,
    PATH_KEYS,
    LoadedDataset,
    RowError,
    _check_text,
    _error,
    _read_rows,
    normalise_split,
    row_to_item,
    safe_media_path,
)
from pipelines.errors import DatasetError
from pipelines.records import Item

MEDIA_EXTENSIONS = frozenset({
    ".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts",
    ".m4a", ".mp3", ".wav", ".aac", ".flac", ".ogg", ".opus",
})
LABELS_FILE = "labels.csv"
MATCH_KEYS = ("id", "path")


def _printable(text: str) -> str:
    """``text`` safe to write as UTF-8 (file names may hold bytes that are not)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def media_files(root: Path, out: LoadedDataset) -> list[str]:
    """Relative POSIX paths of the visible media files below ``root``, sorted; unreadable
    folders become errors in ``out`` and folders reached twice a note."""
    found: list[str] = []
    seen: dict[str, str] = {}

    def rel_of(folder: str) -> str:
        return Path(os.path.relpath(folder, root)).as_posix()

    def unreadable(exc: OSError) -> None:
        where = _printable(rel_of(exc.filename) if exc.filename else ".")
        out.errors.append(_error(where, f"cannot read folder {where}: {exc.strerror or exc}"))

    real_root = os.path.realpath(root)
    for folder, dirs, files in os.walk(root, onerror=unreadable, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # two links to one outside folder, or a loop through one
            out.notes.append(f"folder {_printable(rel_of(folder))} is {_printable(seen[real])} again "
                             f"(a symlink); its files were loaded once, under {_printable(seen[real])}")
            dirs[:] = []
            continue
        seen[real] = rel_of(folder)
        kept = []
        for name in sorted(d for d in dirs if not d.startswith(".")):
            link = os.path.join(folder, name)
            target = os.path.realpath(link)
            if os.path.islink(link) and (target == real_root or target.startswith(real_root + os.sep)):
                inside = Path(os.path.relpath(target, real_root)).as_posix()
                out.notes.append(f"folder {_printable(rel_of(link))} links to {_printable(inside)} inside the "
                                 f"dataset; its files were loaded once, under {_printable(inside)}")
                continue
            kept.append(name)
        dirs[:] = kept
        for name in files:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in MEDIA_EXTENSIONS:
                found.append(Path(folder, name).relative_to(root).as_posix())
    return sorted(found)


def _stem(rel: str) -> str:
    return rel[: -len(PurePosixPath(rel).suffix)]


def item_ids(paths: list[str]) -> dict[str, str]:
    """Relative media path -> item id: the path without its extension, or with it where ids
    would clash (repeated until unique; two full paths never clash)."""
    ids = {rel: _stem(rel) for rel in paths}
    while True:
        counts = Counter(ids.values())
        clashing = [rel for rel, item_id in ids.items() if counts[item_id] > 1 and item_id != rel]
        if not clashing:
            return ids
        for rel in clashing:
            ids[rel] = rel


def _sidecars(root: Path, paths: list[str], out: LoadedDataset) -> dict[str, Path | RowError]:
    """Relative media path -> its sidecar file, or the reason it cannot have one."""
    by_stem: dict[str, list[str]] = defaultdict(list)
    for rel in paths:
        by_stem[_stem(rel)].append(rel)
    own = {f"{rel}.json" for rel in paths}  # clip.mp4.json is clip.mp4's, never the sidecar of clip.mp4.mkv
    found: dict[str, Path | RowError] = {}
    for stem, rels in sorted(by_stem.items()):
        short = root / f"{stem}.json"
        has_short = f"{stem}.json" not in own and short.is_file()
        if has_short and len(rels) > 1:
            names = ", ".join(PurePosixPath(r).name for r in rels)
            out.errors.append(_error(
                _printable(f"{stem}.json"),
                f"sidecar {_printable(stem)}.json fits {len(rels)} files ({_printable(names)}) and was not used; "
                f"name it after its file, e.g. {_printable(PurePosixPath(rels[0]).name)}.json",
            ))
            has_short = False
        for rel in rels:
            full = root / f"{rel}.json"
            if full.is_file() and has_short:
                found[rel] = RowError(f"two sidecars, {full.name} and {short.name}; keep one")
            elif full.is_file():
                found[rel] = full
            elif has_short:
                found[rel] = short
    return found


def _read_sidecar(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8", "surrogateescape")  # bad bytes are reported per field
    except OSError as exc:
        raise RowError(f"cannot read sidecar {path.name}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RowError(f"sidecar {path.name} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise RowError(f"sidecar {path.name} must hold a JSON object, not {type(data).__name__}")
    return data


def _source_item(data: dict[str, Any], item_id: str, root: Path, line_no: int, match: tuple[str, ...]) -> Item:
    """``data`` (a sidecar or a labels row) as an item with the file's id; its id- and
    path-like keys other than ``match`` are kept as metadata."""
    row = {k: v for k, v in data.items() if k not in ID_KEYS and k not in PATH_KEYS}
    kept = {k: data[k] for k in (*ID_KEYS, *PATH_KEYS) if k not in match and data.get(k) not in (None, "")}
    _check_text(kept)
    item = row_to_item({**row, "id": item_id}, root, line_no)
    for key, value in kept.items():
        item.metadata.setdefault(key, value)
    return item


def _merge(base: Item, source: Item) -> Item:
    """``source``'s fields over ``base``'s, key by key; empty values do not erase."""
    return base.model_copy(update={
        "title": source.title or base.title,
        "description": source.description or base.description,
        "split": source.split if source.split is not None else base.split,
        "labels": {**base.labels, **source.labels},
        "metadata": {**base.metadata, **source.metadata},
        "truth": {**base.truth, **source.truth},
    })


def _label_rows(labels_path: Path, root: Path, ids: dict[str, str], out: LoadedDataset) -> dict[str, tuple[dict[str, Any], int]]:
    """Relative media path -> (its labels row, line number); bad rows become errors in ``out``."""
    name = labels_path.name
    try:
        rows = _read_rows(labels_path)
    except OSError as exc:
        raise DatasetError(f"cannot read labels file {labels_path}: {exc.strerror or exc}") from None
    columns = {k for _, row in rows if isinstance(row, dict) for k in row}
    if rows and not columns & set(MATCH_KEYS):
        raise DatasetError(f"labels file {labels_path} has neither an 'id' nor a 'path' column "
                           f"(found: {', '.join(sorted(map(str, columns))) or 'none'}); add one that names each file")
    by_id = {item_id: rel for rel, item_id in ids.items()}
    by_stem: dict[str, list[str]] = defaultdict(list)
    for rel in ids:
        by_stem[_stem(rel)].append(rel)
    matched: dict[str, tuple[dict[str, Any], int]] = {}
    for line_no, row in rows:
        where = f"{name} line {line_no}"
        if isinstance(row, RowError):
            out.errors.append(_error(where, f"{name}: {row}"))
            continue
        raw_id = str(row["id"]) if row.get("id") not in (None, "") else ""
        raw_path = str(row["path"]) if row.get("path") not in (None, "") else ""
        try:
            rel_by_path = rel_by_id = None
            if not raw_id and not raw_path:
                raise RowError(f"{where} has neither an id nor a path")
            if raw_path:
                target = safe_media_path(root, raw_path)
                rel_by_path = target.relative_to(root).as_posix()
                if rel_by_path not in ids:
                    why = ("is hidden or not a media file" if os.path.lexists(target)
                           else f"file not found: no {raw_path} in {root}")
                    raise RowError(f"{where}: path {raw_path!r} {why}")
            if raw_id:
                rel_by_id = by_id.get(raw_id)
                if rel_by_id is None and len(by_stem.get(raw_id, [])) > 1:
                    choices = ", ".join(sorted(ids[r] for r in by_stem[raw_id]))
                    raise RowError(f"{where}: id {raw_id!r} fits several files (ids {choices}); use one of those ids or a path")
                if rel_by_id is None:
                    raise RowError(f"{where}: file not found: id {raw_id!r} matches no media file in {root}")
            if rel_by_path and rel_by_id and rel_by_path != rel_by_id:
                raise RowError(f"{where}: id {raw_id!r} and path {raw_path!r} name different files")
        except RowError as exc:
            out.errors.append(_error(_printable(raw_id or raw_path or where), str(exc)))
            continue
        rel = rel_by_path or rel_by_id
        if rel in matched:
            out.errors.append(_error(f"{ids[rel]} ({where})", f"{where} is a second row for {ids[rel]!r} "
                                     f"(first: line {matched[rel][1]}); this row was left out"))
            continue
        matched[rel] = (row, line_no)
    return matched


def load_folder(path: str | Path, labels_file: str | Path | None = None, split: str | None = None) -> LoadedDataset:
    """Items for every media file below ``path`` (the rules are in the module docstring).

    Args:
        path: The folder of videos and audio files.
        labels_file: A labels table (CSV, TSV, JSONL or Parquet); default
            ``<path>/labels.csv`` when that exists.
        split: Keep only the items of this split (from a sidecar or the labels file).

    Returns:
        The items sorted by id, the ``load_items`` errors, and notes (split names
        case-folded, folders reached twice).

    Raises:
        DatasetError: ``path`` is not a folder, ``labels_file`` does not exist, or the labels
            file as a whole cannot be read or has no ``id``/``path`` column.
    """
    root = Path(os.path.abspath(path))
    if not root.exists():
        raise DatasetError(f"dataset folder not found: {path} (relative paths are resolved from the current directory)")
    if not root.is_dir():
        raise DatasetError(f"dataset path {path} is a file; adapter 'folder' needs a folder of videos "
                           f"(use adapter 'manifest' for a manifest file)")
    if labels_file is not None and not Path(labels_file).is_file():
        raise DatasetError(f"labels file not found: {labels_file} (relative paths are resolved from the current directory)")
    labels_path = Path(labels_file) if labels_file is not None else root / LABELS_FILE
    out = LoadedDataset()

    paths: list[str] = []
    for rel in media_files(root, out):
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            out.errors.append(_error(_printable(rel), f"file name {_printable(rel)!r} is not valid UTF-8; rename the file"))
            continue
        paths.append(rel)
    ids = item_ids(paths)
    sidecars = _sidecars(root, paths, out)
    labelled = _label_rows(labels_path, root, ids, out) if labels_path.is_file() else {}

    items: list[Item] = []
    folded: dict[str, str] = {}
    for rel in paths:
        item_id = ids[rel]
        try:
            item = row_to_item({"id": item_id, "path": rel}, root, 0)
            sources: list[tuple[str, dict[str, Any], int, tuple[str, ...]]] = []
            sidecar = sidecars.get(rel)
            if isinstance(sidecar, RowError):
                raise sidecar
            if sidecar is not None:
                sources.append((f"sidecar {sidecar.name}", _read_sidecar(sidecar), 0, ()))
            if rel in labelled:
                row, line_no = labelled[rel]
                sources.append((f"{labels_path.name} line {line_no}", row, line_no, MATCH_KEYS))
            for where, data, line_no, match in sources:  # later sources win
                try:
                    item = _merge(item, _source_item(data, item_id, root, line_no, match))
                except RowError as exc:
                    raise RowError(f"{where}: {exc}") from None
                raw_split = data.get("split")
                if isinstance(raw_split, str) and normalise_split(raw_split) not in (None, raw_split):
                    folded[raw_split] = str(normalise_split(raw_split))
        except RowError as exc:
            out.errors.append(_error(_printable(item_id), str(exc)))
            continue
        items.append(item)
    wanted = normalise_split(split)
    out.items = sorted((i for i in items if wanted is None or i.split == wanted), key=lambda i: i.item_id)
    if folded:
        out.notes.append("split names case-folded: " + ", ".join(f"{a!r} -> {b!r}" for a, b in sorted(folded.items())))
    return out
