"""The VPD adapter: the video-popularity label files of Kayal et al. (Findings ACL 2025).

"Large Language Models Are Natural Video Popularity Predictors" publishes its labels as CSV
files (``train_local_hit.csv``, ``train_global_big_hit.csv``, ``test_local_hit.csv``,
``test_global_big_hit.csv``; a copy is in ``data/vpd/``) with the columns ``video_id``,
``final_views``, ``num_country``, ``popularity_category`` and ``split``. The videos are not
part of those files: the paper's downloader fetches them from YouTube as
``<id>.mp4`` next to ``captions/<id>.json`` (a youtube-transcript-api JSON list of
``{"text", "start", "duration"}``).

Like the manifest adapter, a bad row never stops the others: it becomes an
:class:`ErrorRecord` of the pseudo-stage ``load_items`` (a missing video, a duplicate id, a
non-integer count). Only a problem with the label files as a whole raises
:class:`DatasetError`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.datasets.manifest import LOAD_STAGE, LoadedDataset, RowError, safe_media_path
from pipelines.errors import DatasetError
from pipelines.records import ErrorRecord, Item

COLUMNS = ("video_id", "final_views", "num_country", "popularity_category", "split")
LABEL_FILES = ("train_local_hit.csv", "train_global_big_hit.csv", "test_local_hit.csv", "test_global_big_hit.csv")
CAPTIONS_DIR = "captions"


def _error(item_id: str, error_type: str, reason: str) -> ErrorRecord:
    return ErrorRecord(item_id=item_id, stage=LOAD_STAGE, error_type=error_type, reason=reason)


def _read_labels(path: Path) -> dict[str, list[str]]:
    """The required columns of one label file, every cell as the exact string in the file.

    Everything is read as text (``keep_default_na=False``) so that ids such as ``-Lg457PFQsI``
    or ``NaN`` stay ids, and counts are converted per row where a bad cell can be reported.
    """
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise DatasetError(f"VPD label file {path} is empty; expected a header {','.join(COLUMNS)}") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"VPD label file {path} is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except pd.errors.ParserError as exc:
        detail = " ".join(str(exc).split())
        raise DatasetError(f"VPD label file {path} is not a readable CSV: {detail}") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"VPD label file {path} lacks the column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, frame.columns))}; expected: {', '.join(COLUMNS)})"
        )
    return {c: frame[c].tolist() for c in COLUMNS}


def _count(name: str, value: str) -> int:
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not number.is_integer():
        raise RowError(f"{name} {value!r} is not a whole number")
    return int(number)


def _caption_piece(entry: Any, index: int) -> str:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and isinstance(entry.get("text"), str):
        return entry["text"]
    raise ValueError(f"entry {index} is neither a string nor an object with a 'text' string")


def caption_text(data: Any) -> str:
    """The spoken text of a parsed captions JSON, pieces joined by single spaces.

    Accepts the shapes caption files come in: a string, a list of strings, a list of objects
    with a ``text`` key (youtube-transcript-api), or an object with a ``text`` string or a
    ``captions`` / ``segments`` list of those. Raises :class:`ValueError` for anything else,
    so an unexpected file is reported instead of read as empty.
    """
    if isinstance(data, str):
        pieces = [data]
    elif isinstance(data, list):
        pieces = [_caption_piece(entry, i) for i, entry in enumerate(data)]
    elif isinstance(data, dict) and isinstance(data.get("text"), str):
        pieces = [data["text"]]
    elif isinstance(data, dict) and any(isinstance(data.get(k), list) for k in ("captions", "segments")):
        entries = next(data[k] for k in ("captions", "segments") if isinstance(data.get(k), list))
        pieces = [_caption_piece(entry, i) for i, entry in enumerate(entries)]
    else:
        raise ValueError(
            f"unrecognised captions JSON ({type(data).__name__}); expected a string, a list of strings or "
            "of {'text': ...} objects, or an object with 'text', 'captions' or 'segments'"
        )
    return " ".join(" ".join(pieces).split())


def read_captions(path: Path) -> str:
    """The text of one captions file (raises ``OSError`` / ``ValueError`` with the reason)."""
    return caption_text(json.loads(path.read_text(encoding="utf-8")))


def _captions_metadata(captions_root: Path, video_id: str) -> dict[str, str]:
    try:
        path = safe_media_path(captions_root, f"{video_id}.json")
    except RowError:
        return {}
    if not path.is_file():
        return {}
    try:
        return {"captions": read_captions(path)}
    except (OSError, ValueError) as exc:
        detail = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
        reason = " ".join(f"{CAPTIONS_DIR}/{video_id}.json is unreadable: {type(exc).__name__}: {detail}".split())
        return {"captions_error": reason}


def _label_files(labels_dir: Path) -> list[Path]:
    expected = f"a folder with the VPD label CSVs ({', '.join(LABEL_FILES)})"
    if not labels_dir.is_dir():
        raise DatasetError(f"VPD labels folder not found: {labels_dir}; expected {expected}")
    files = sorted(p for p in labels_dir.glob("*.csv") if p.is_file())
    if not files:
        raise DatasetError(f"no .csv file in {labels_dir}; expected {expected}")
    return files


def load_vpd(
    labels_dir: str | Path,
    videos_dir: str | Path | None = None,
    split: str | None = None,
    require_video: bool = True,
) -> LoadedDataset:
    """Load the VPD label CSVs as :class:`Item` rows, optionally joined with downloaded videos.

    The label files carry no titles or descriptions and no 1-4 popularity scale; an item holds
    exactly what the files say: ``labels = {"popularity": <popularity_category as written>,
    "views": final_views, "countries": num_country}`` and ``split`` from the ``split`` column.

    Args:
        labels_dir: Folder whose every ``*.csv`` is a VPD label file (all of them are read,
            in name order, so ids are checked for uniqueness across files).
        videos_dir: Folder of downloaded videos, ``<video_id>.mp4``, with optional
            ``captions/<video_id>.json``. ``None`` loads labels only: no video paths and no
            video errors (for experiments over labels and metadata).
        split: Keep only rows whose ``split`` equals this; videos are looked up for kept rows
            only. Bad or duplicate rows are reported whatever their split.
        require_video: With ``videos_dir``, a row without its ``.mp4`` becomes a
            ``MissingVideo`` error (True) or an item with ``video=None`` (False).

    Returns:
        The items and the per-row ``load_items`` errors. A captions file that cannot be read
        does not fail its item: its reason is in ``metadata["captions_error"]``, while readable
        captions are in ``metadata["captions"]``.

    Raises:
        DatasetError: The labels folder or ``videos_dir`` does not exist, there is no CSV, or a
            file is unreadable or lacks one of the columns ``video_id, final_views,
            num_country, popularity_category, split``.
    """
    labels_dir = Path(labels_dir)
    files = _label_files(labels_dir)
    video_root: Path | None = None
    if videos_dir is not None:
        video_root = Path(os.path.abspath(videos_dir))
        if not video_root.is_dir():
            raise DatasetError(f"VPD videos folder not found: {videos_dir}; expected <video_id>.mp4 files in it")
    captions_root: Path | None = None
    if video_root is not None and (video_root / CAPTIONS_DIR).is_dir():
        captions_root = video_root / CAPTIONS_DIR

    out = LoadedDataset()
    seen: dict[str, str] = {}
    for path in files:
        columns = _read_labels(path)
        rows = zip(*(columns[c] for c in COLUMNS))
        for line_no, (raw_id, views, countries, category, row_split) in enumerate(rows, start=2):
            where = f"{path.name} line {line_no}"
            video_id = raw_id.strip()
            if not video_id:
                out.errors.append(_error(f"{path.stem}:row-{line_no}", "BadLabelRow", f"{where} has no video_id"))
                continue
            if video_id in seen:
                out.errors.append(_error(
                    video_id, "BadLabelRow",
                    f"duplicate id {video_id!r} in {where} (first in {seen[video_id]}); ids must be unique",
                ))
                continue
            seen[video_id] = where
            try:
                labels = {
                    "popularity": category.strip(),
                    "views": _count("final_views", views),
                    "countries": _count("num_country", countries),
                }
                if not labels["popularity"]:
                    raise RowError("popularity_category is empty")
            except RowError as exc:
                out.errors.append(_error(video_id, "BadLabelRow", f"{where}: {exc}"))
                continue
            item_split = row_split.strip() or None
            if split is not None and item_split != split:
                continue

            video: str | None = None
            video_path: str | None = None
            metadata: dict[str, str] = {}
            if video_root is not None:
                try:
                    candidate = safe_media_path(video_root, f"{video_id}.mp4")
                except RowError as exc:
                    out.errors.append(_error(video_id, "BadLabelRow", f"{where}: {exc}"))
                    continue
                if candidate.is_file():
                    video, video_path = f"{video_id}.mp4", str(candidate)
                elif require_video:
                    out.errors.append(_error(
                        video_id, "MissingVideo", f"video {video_id}.mp4 is not in {video_root} ({where})"
                    ))
                    continue
                if captions_root is not None:
                    metadata = _captions_metadata(captions_root, video_id)

            out.items.append(Item(
                item_id=video_id, video=video, video_path=video_path,
                metadata=metadata, labels=labels, split=item_split,
            ))
    return out
