"""Run directories and the content-addressed cache.

A run is a directory ``<runs_dir>/<run_id>/``::

    manifest.json                 resolved config, git sha, package versions, models, status
    stats.json                    counts and timings per stage
    records/<stage>/part-NNNNN.jsonl   one shard per finished batch, written atomically
    <stage>.errors.jsonl          one line per failed item of the stage's latest attempt
    run.lock                      held (flock) while a process works on the run

Every file is written to a temporary name and renamed into place, so a crash (kill -9
included) leaves either the old file or the new one, never half of one. The cache lives in
``<cache_dir>/records/<stage>/<key[:2]>/<key>.json`` and holds one record per key; stage
artifacts (frame JPEGs) live in ``<cache_dir>/artifacts/<stage>/<key>/``. Only JSON is
ever read back: no pickle.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pipelines.errors import ConfigError
from pipelines.records import ErrorRecord, FramesRecord, Record, parse_record

MANIFEST = "manifest.json"
STATS = "stats.json"
ITEMS = "items.json"


# ---------------------------------------------------------------- hashing and atomic I/O


def canonical_json(obj: Any) -> str:
    """Sorted, compact JSON: equal content gives equal text and therefore equal hashes."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _file_mode() -> int:
    """The mode a plain ``open()`` would give under the current umask (mkstemp uses 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_run_id(run_id: str) -> str:
    """A run id is a plain folder name: letters, digits, ``.``, ``_``, ``-``."""
    if not RUN_ID.match(run_id):
        raise ConfigError(f"run id {run_id!r} must be a plain name of letters, digits, '.', '_' or '-'")
    return run_id


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` via a uniquely named temp file in the same directory, fsync,
    rename: readers (and concurrent writers of the same content) never see half a file.
    ``durable=False`` skips the fsync: the rename alone keeps a killed process from leaving
    half a file; only a power cut can lose the newest writes (fine for the cache, which is
    recomputed when an entry is missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def to_jsonl(rows: Iterable[BaseModel]) -> str:
    return "".join(r.model_dump_json() + "\n" for r in rows)


# ---------------------------------------------------------------- cache


class Cache:
    """Content-addressed store of stage records (and their artifacts) keyed by sha256."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _record_path(self, stage: str, key: str) -> Path:
        return self.root / "records" / stage / key[:2] / f"{key}.json"

    def artifact_dir(self, stage: str, key: str) -> Path:
        """Where a stage writes files (e.g. JPEG frames) that belong to the record ``key``."""
        return self.root / "artifacts" / stage / key

    def has(self, stage: str, key: str) -> bool:
        """Whether a record with ``key`` is cached (its file exists; not read)."""
        return self._record_path(stage, key).is_file()

    def get(self, stage: str, key: str) -> Record | None:
        """The cached record, or ``None`` when absent, unreadable, or its artifacts are gone."""
        path = self._record_path(stage, key)
        if not path.is_file():
            return None
        try:
            record = parse_record(read_json(path))
        except (ValueError, OSError):
            return None
        if not artifacts_present(record):
            return None
        return record

    def put(self, record: Record) -> None:
        """Store ``record`` under its key: compact JSON, renamed into place, not fsynced (one
        file per record; a lost entry is recomputed)."""
        atomic_write_bytes(self._record_path(record.stage, record.key), record.model_dump_json().encode("utf-8"),
                           durable=False)


def artifacts_present(record: Record) -> bool:
    """True when every file the record refers to (extracted frames) still exists."""
    if isinstance(record, FramesRecord):
        return all(Path(frame.path).is_file() for frame in record.frames)
    return True


# ---------------------------------------------------------------- runs


class RunLockedError(RuntimeError):
    pass


class RunStore:
    """Read and write one run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir)
        self._lock_fh: Any = None

    @property
    def run_id(self) -> str:
        return self.dir.name

    # -- lock ---------------------------------------------------------------
    def lock(self) -> None:
        """Take the run's lock; a second process on the same run gets a clear error.

        An flock is released by the kernel when its process dies, so a run killed with
        ``kill -9`` can be resumed at once.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.dir / "run.lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise RunLockedError(
                f"run {self.run_id} is being written by another process; wait for it or use --run-id"
            ) from None
        self._lock_fh = fh
        for stale in self.dir.rglob(".*.tmp"):  # left by a process killed mid-write
            stale.unlink(missing_ok=True)

    def unlock(self) -> None:
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    # -- manifest and stats --------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        path = self.dir / MANIFEST
        return read_json(path) if path.is_file() else {}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.dir / MANIFEST, manifest)

    def write_items(self, items: list[Any]) -> None:
        """The dataset's items at the latest attempt (records of other ids are stale), with what
        analysis needs beside the records: split, gold labels, title, metadata (media by path)."""
        atomic_write_json(self.dir / ITEMS, {"item_ids": [i.item_id for i in items],
                                             "items": [i.model_dump(mode="json", exclude={"truth"}) for i in items]})

    def items(self) -> list[dict[str, Any]] | None:
        """The items written by :meth:`write_items` (``None`` for runs written before)."""
        path = self.dir / ITEMS
        return read_json(path).get("items") if path.is_file() else None

    def item_ids(self) -> set[str] | None:
        """The current items' ids (``None`` for runs written before ``items.json`` existed)."""
        path = self.dir / ITEMS
        return set(read_json(path)["item_ids"]) if path.is_file() else None

    def current_records(self, stage: str) -> list[Record]:
        """The stage's records of items still in the dataset (stale ones left out)."""
        ids = self.item_ids()
        return [r for r in self.records(stage) if ids is None or r.item_id in ids]

    def read_stats(self) -> dict[str, Any]:
        path = self.dir / STATS
        return read_json(path) if path.is_file() else {}

    def write_stats(self, stats: dict[str, Any]) -> None:
        atomic_write_json(self.dir / STATS, stats)

    # -- records -------------------------------------------------------------
    def _shard_dir(self, stage: str) -> Path:
        return self.dir / "records" / stage

    def shards(self, stage: str) -> list[Path]:
        """The stage's shards in write order (by number, so part-100000 follows part-99999)."""
        folder = self._shard_dir(stage)
        if not folder.is_dir():
            return []
        return sorted(folder.glob("part-*.jsonl"), key=lambda p: (int(p.stem.split("-")[1]), p.stem))

    def append_records(self, stage: str, records: list[Record], writer: str | None = None) -> Path | None:
        """Write ``records`` as one new shard (atomic): a batch is either all there or absent.
        Workers writing at the same time (the Ray executor) each name theirs with ``writer``,
        so two shards of the same number never collide; the number keeps the write order
        across attempts."""
        if not records:
            return None
        existing = self.shards(stage)
        next_index = int(existing[-1].stem.split("-")[1]) + 1 if existing else 0
        path = self._shard_dir(stage) / (f"part-{next_index:05d}-{writer}.jsonl" if writer else
                                         f"part-{next_index:05d}.jsonl")
        atomic_write_text(path, to_jsonl(records))
        return path

    def records(self, stage: str) -> list[Record]:
        """All records of a stage; if an item appears twice (re-done), the newest wins."""
        latest: dict[str, Record] = {}
        for shard in self.shards(stage):
            for row in iter_jsonl(shard):
                record = parse_record(row)
                latest[record.item_id] = record
        return list(latest.values())

    def stages_with_records(self) -> list[str]:
        folder = self.dir / "records"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    # -- errors --------------------------------------------------------------
    def errors_path(self, stage: str) -> Path:
        return self.dir / f"{stage}.errors.jsonl"

    def errors(self, stage: str) -> list[ErrorRecord]:
        path = self.errors_path(stage)
        if not path.is_file():
            return []
        return [ErrorRecord.model_validate(row) for row in iter_jsonl(path)]

    def write_errors(self, stage: str, errors: list[ErrorRecord]) -> None:
        """Replace the stage's error file with the errors of its latest attempt."""
        path = self.errors_path(stage)
        if errors:
            atomic_write_text(path, to_jsonl(errors))
        elif path.exists():
            path.unlink()
