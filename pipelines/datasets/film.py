"""Film datasets: a manifest of clips enriched with MovieNet-style metadata and shot annotations.

``dataset: {adapter: film, path: clips.csv, metadata_dir: meta/, shots_file: shots.csv}``

* ``path`` — a manifest of clips (CSV/JSONL/Parquet, as ``manifest.py`` reads): ``id``, ``path``
  and, optionally, ``imdb_id`` (default: the id), ``title``, ``year``, ``genres``, ``budget``
  (or ``budget_usd``), ``split``;
* ``metadata_dir`` — MovieNet-style metadata: one JSON file per film named
  ``<imdb_id>.json`` with ``title``, ``year`` (or a year in parentheses at the end of the
  title, "The Wizard of Oz (1939)"), ``genres`` (a list or ``"Drama|War"``), ``budget``
  (a number or "$3,000,000 (estimated)") and anything else (``director``, ``country``,
  ``overview``, …), which goes into the item's metadata — shown to the model only when
  ``summarize.metadata_fields`` names it. A value the manifest row already has wins. Genres
  and budget become labels, never text;
* ``shots_file`` — shot annotations in the CineScale / MovieShots style: a CSV with a clip
  column (``id``, ``clip`` or ``video``), a time (``start_s`` [``end_s``], or ``time_s``, or
  ``frame`` with ``fps``) and a ``shot_scale`` (or ``scale``, ``label``) and/or
  ``camera_movement`` (or ``movement``) column. Scale names are mapped to the five MovieShots
  classes (``ECS``/``extreme close-up``, ``CS``/``close-up``/``close up``, ``MS``/``medium``,
  ``FS``/``full``, ``LS``/``long``/``wide``); a row with only a start time lasts until the
  next row's start (the last one: open, ``end_s`` = :data:`END_OPEN`). The
  result is ``labels.shots`` of each clip.

A row or file that cannot be used becomes a load error naming it; the other clips load.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pipelines.datasets.manifest import LOAD_STAGE, LoadedDataset, load_manifest
from pipelines.errors import DatasetError
from pipelines.records import ErrorRecord, Item

SCALE_NAMES = {
    "ecs": "extreme close-up", "ecu": "extreme close-up", "extreme close-up": "extreme close-up",
    "extreme closeup": "extreme close-up", "cs": "close-up", "cu": "close-up", "close-up": "close-up",
    "close up": "close-up", "closeup": "close-up", "ms": "medium", "medium": "medium", "medium shot": "medium",
    "fs": "full", "full": "full", "full shot": "full", "ls": "long", "long": "long", "long shot": "long",
    "wide": "long", "wide shot": "long",
}
MOVEMENT_NAMES = {"static": "static", "still": "static", "pan left": "pan left", "pan right": "pan right",
                  "tilt up": "tilt up", "tilt down": "tilt down", "zoom in": "zoom in", "zoom out": "zoom out"}
END_OPEN = 1e9  # the end of the last annotated shot when the file gives none: open (seconds)


def _norm(value: Any) -> str:
    return " ".join(str(value).strip().casefold().replace("_", " ").replace("-", " ").split()).replace(
        "close up", "close-up")


def scale_name(value: Any) -> str | None:
    """The MovieShots class ``value`` names, or ``None``."""
    if value is None or value != value:
        return None
    text = _norm(value)
    return SCALE_NAMES.get(text) or SCALE_NAMES.get(text.replace("-", " "))


def movement_name(value: Any) -> str | None:
    if value is None or value != value:
        return None
    return MOVEMENT_NAMES.get(_norm(value))


def parse_budget(value: Any) -> float | None:
    """A budget in USD from a number or a text like "$3,000,000 (estimated)"; other currencies
    (a leading code or symbol that is not ``$``/``USD``) are not converted: ``None``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value == value else None
    text = str(value).strip()
    match = re.match(r"^(USD|US\$|\$)?\s*([\d,.]+)\s*(million|m)?\b", text, flags=re.IGNORECASE)
    if not match or (not match.group(1) and re.match(r"^[A-Z]{3}|^[€£¥]", text)):
        return None
    number = float(match.group(2).replace(",", ""))
    return number * (1e6 if match.group(3) else 1.0)


def read_metadata(folder: Path, imdb_id: str) -> dict[str, Any] | None:
    path = folder / f"{imdb_id}.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path.name} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path.name} holds no JSON object")
    return data


def enrich(item: Item, meta: dict[str, Any]) -> Item:
    """``item`` with the film metadata of ``meta`` where the manifest row gave none."""
    from pipelines.tasks.film import budget_band, normalise_genres

    title = str(meta.get("title") or "")
    year = meta.get("year")
    found = re.search(r"\((\d{4})\)\s*$", title)
    if found:
        title, year = title[: found.start()].strip(), year or int(found.group(1))
    labels = dict(item.labels)
    if not labels.get("genres") and meta.get("genres"):
        labels["genres"] = normalise_genres(meta["genres"])
    usd = parse_budget(meta.get("budget"))
    if labels.get("budget") in (None, "") and labels.get("budget_usd") in (None, "") and usd is not None:
        labels["budget_usd"], labels["budget"] = usd, budget_band(usd)
    kept = {k: v for k, v in meta.items() if k not in ("title", "genres", "budget", "year", "imdb_id")}
    metadata = {**kept, **item.metadata}
    if year and "year" not in item.metadata:
        metadata["year"] = year
    return item.model_copy(update={"title": item.title or title, "description": item.description or str(
        meta.get("overview") or ""), "labels": labels, "metadata": metadata})


def read_shots(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Shot annotations per clip id from a CineScale/MovieShots-style CSV (module doc)."""
    import pandas as pd

    if not path.is_file():
        raise DatasetError(f"shots_file not found: {path}")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    columns = {c.casefold().strip(): c for c in frame.columns}

    def col(*names: str) -> str | None:
        return next((columns[n] for n in names if n in columns), None)

    clip = col("id", "clip", "clip_id", "video", "item_id")
    scale, movement = col("shot_scale", "scale", "label", "class"), col("camera_movement", "movement")
    start, end, time, frame_col, fps = col("start_s", "start"), col("end_s", "end"), col("time_s", "time"), \
        col("frame"), col("fps")
    if clip is None or (scale is None and movement is None) or not (start or time or frame_col):
        raise DatasetError(f"{path.name}: needs a clip column (id), a time (start_s, time_s or frame with fps) and "
                           "shot_scale and/or camera_movement")
    shots: dict[str, list[dict[str, Any]]] = {}
    for row in frame.to_dict("records"):
        try:
            if start or time:
                t0 = float(row[start or time])
            else:
                t0 = float(row[frame_col]) / float(row[fps]) if fps and row[fps] else None
        except ValueError:
            t0 = None
        if t0 is None:
            raise DatasetError(f"{path.name}: a row of clip {row[clip]!r} has no usable time; give start_s, time_s "
                               "or frame with fps")
        t1 = float(row[end]) if end and row.get(end) not in (None, "") else None
        shots.setdefault(str(row[clip]), []).append({
            "start_s": round(t0, 3), "end_s": None if t1 is None else round(t1, 3),
            "shot_scale": scale_name(row[scale]) if scale else None,
            "camera_movement": movement_name(row[movement]) if movement else None,
        })
    for rows in shots.values():
        rows.sort(key=lambda r: r["start_s"])
        for here, after in zip(rows, rows[1:] + [None]):
            if here["end_s"] is None:
                here["end_s"] = after["start_s"] if after else END_OPEN
    return shots


def load_film(path: str | Path, data_root: str | Path | None = None, split: str | None = None,
              metadata_dir: str | Path | None = None, shots_file: str | Path | None = None) -> LoadedDataset:
    """The clips of a film manifest with MovieNet-style metadata and shot annotations added."""
    loaded = load_manifest(path, data_root, split)
    meta_dir = Path(metadata_dir) if metadata_dir else None
    if meta_dir is not None and not meta_dir.is_dir():
        raise DatasetError(f"metadata_dir not found: {meta_dir}")
    shots = read_shots(Path(shots_file)) if shots_file else {}
    items, missing = [], 0
    for item in loaded.items:
        if meta_dir is not None:
            imdb_id = str(item.metadata.get("imdb_id") or item.item_id)
            try:
                meta = read_metadata(meta_dir, imdb_id)
            except DatasetError as exc:
                loaded.errors.append(ErrorRecord(item_id=item.item_id, stage=LOAD_STAGE, error_type="BadMetadata",
                                                 reason=str(exc)))
                continue
            if meta is None:
                missing += 1
            else:
                item = enrich(item, meta)
        if item.item_id in shots and not item.labels.get("shots"):
            item = item.model_copy(update={"labels": {**item.labels, "shots": shots[item.item_id]}})
        items.append(item)
    loaded.items = items
    if missing:
        loaded.notes.append(f"{missing} clips have no metadata file in {meta_dir} (named <imdb_id>.json)")
    unknown = sorted(set(shots) - {i.item_id for i in items})
    if unknown:
        loaded.notes.append(f"shot annotations of {len(unknown)} clips not in the manifest ignored: "
                            + ", ".join(unknown[:5]))
    return loaded
