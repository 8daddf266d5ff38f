"""Run directories and the content-addressed cache.

A run is a directory ``<runs_dir>/<run_id>/``::

    manifest.json                 resolved config, git sha, package versions, models, status
    stats.json                    counts and timings per stage
    records/<stage>/part-NNNNN.jsonl   one shard per finished batch, written atomically
    <stage>.errors.jsonl          one line per failed item of the stage's latest attempt
    run.lock                      held (flock) while a process works on the run

Every file is written to a temporary name and renamed into place, so a crash (kill -9
included) leaves either the old file or the new one, never half of one. A file damaged all
the same (a truncated copy, a bad disk, an edit) costs only what it holds: readers skip its
unreadable lines and say so in one line naming the file and line (:class:`Damage`), and
``m2t run`` sets the file aside under ``damaged/`` (kept, never deleted) and recomputes what it
lost (:meth:`RunStore.repair`). Only an unreadable manifest stops a reader
(:class:`DamagedRunError`). The cache lives in
``<cache_dir>/records/<stage>/<key[:2]>/<key>.json`` and holds one record per key; stage
artifacts (frame JPEGs) live in ``<cache_dir>/artifacts/<stage>/<key>/``. Only JSON is
ever read back: no pickle.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.errors import ConfigError, M2TError, first_line
from pipelines.files import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    read_json,
    to_jsonl,
)
from pipelines.records import (
    RECORD_TYPES,
    ErrorRecord,
    FramesRecord,
    Record,
    UnknownRecordTypeError,
    import_record_type,
    parse_record,
)

MANIFEST = "manifest.json"
STATS = "stats.json"
ITEMS = "items.json"


RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_run_id(run_id: str) -> str:
    """A run id is a plain folder name: letters, digits, ``.``, ``_``, ``-``."""
    if not RUN_ID.match(run_id):
        raise ConfigError(f"run id {run_id!r} must be a plain name of letters, digits, '.', '_' or '-'")
    return run_id


# ---------------------------------------------------------------- damaged files


class DamagedRunError(M2TError):
    """A run file a reader cannot do without (the manifest) is unreadable."""


class DamagedRunWarning(UserWarning):
    """Part of a run file was unreadable and skipped (the message names the file and line)."""


@dataclass(frozen=True)
class Damage:
    """An unreadable part of one run file, as a reader found it.

    Attributes:
        path: the file.
        line: its first unreadable line (1-based; for a JSON file the line of the first error).
        reason: what is wrong there, in words.
        note: what the reader did without it (and what to do).
    """

    path: Path
    line: int
    reason: str
    note: str

    def __str__(self) -> str:
        return f"damaged run file {self.path}, line {self.line}: {self.reason}; {self.note}"


_listener: Callable[[Damage], None] | None = None


def on_damage(listener: Callable[[Damage], None] | None) -> Callable[[Damage], None] | None:
    """Send every damage a reader finds to ``listener`` (the command line prints one line each)
    instead of raising a :class:`DamagedRunWarning` (what a notebook shows); returns the
    listener it replaces."""
    global _listener
    previous, _listener = _listener, listener
    return previous


def report_damage(damage: Damage) -> None:
    """Tell the listener, else warn (Python shows each distinct warning once per process)."""
    if _listener is not None:
        _listener(damage)
    else:
        warnings.warn(str(damage), DamagedRunWarning, stacklevel=3)


def _why(exc: Exception, data: bytes) -> tuple[int, str]:
    """The line and, in words, the reason a JSON text failed to read."""
    if isinstance(exc, UnicodeDecodeError):
        return data[: exc.start].count(b"\n") + 1, "garbage bytes (not UTF-8 text)"
    if isinstance(exc, json.JSONDecodeError):
        return exc.lineno, f"not JSON ({exc.msg}, column {exc.colno})"
    return 1, str(exc)


def read_jsonl(path: Path) -> tuple[list[tuple[int, str, dict[str, Any]]], list[tuple[int, str]]]:
    """A JSONL file's objects as (line number, line, object) and its unreadable lines as (line
    number, reason).

    Decodes line by line, so garbage bytes cost only the lines they touch; a last line without
    its newline that does not parse is a write cut short (a killed copy, a truncated file). A
    file that cannot be opened, or is empty (the run never writes an empty shard or error
    file), is one unreadable line 1.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [], [(1, f"cannot be read ({exc.strerror or exc})")]
    if not data.strip():
        return [], [(1, "empty file (the run never writes one)")]
    rows: list[tuple[int, str, dict[str, Any]]] = []
    bad: list[tuple[int, str]] = []
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
            row = json.loads(text)
        except UnicodeDecodeError:
            bad.append((number, "garbage bytes (not UTF-8 text)"))
            continue
        except ValueError as exc:
            cut = number == len(lines) and not data.endswith(b"\n")
            bad.append((number, "cut short (the file ends mid-line)" if cut else _why(exc, raw)[1]))
            continue
        if not isinstance(row, dict):
            bad.append((number, "not a JSON object"))
            continue
        rows.append((number, text, row))
    return rows, bad


def _json_problem(path: Path) -> tuple[Any, tuple[int, str] | None]:
    """A JSON file's object, or its problem as (line, reason)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, (1, f"cannot be read ({exc.strerror or exc})")
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, _why(exc, data)
    if not isinstance(value, dict):
        return None, (1, "not a JSON object")
    return value, None


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


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:  # kill(0) would ask about our own process group
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _lines(n: int) -> str:
    return f"{n} line{'s' if n != 1 else ''}"


class RunStore:
    """Read and write one run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir)
        self._lock_fh: Any = None
        self.damaged: list[Damage] = []  # what this store's reads skipped, each part once

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
        deadline = time.monotonic() + 0.5  # a reader's probe (:meth:`locked`) holds it for microseconds
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
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

    def locked(self) -> bool | None:
        """Whether a process holds the run's lock now (``None``: no lock file to ask).

        Takes a shared lock and drops it at once; :meth:`lock` retries for half a second, so the
        probe never makes a starting run fail.
        """
        try:
            fh = open(self.dir / "run.lock", "rb")
        except OSError:
            return None
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            except OSError:
                return None
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False

    def state(self, manifest: dict[str, Any] | None = None) -> str:
        """The run's state, the one way every command derives it (``m2t runs``, ``m2t status``).

        The manifest's status, except that ``running`` stands only while a process holds the
        run's lock: SIGTERM or kill -9 leave the manifest saying ``running``, and the kernel
        frees a dead process's lock, so such a run is ``interrupted``. Runs without a lock file
        fall back to whether the manifest's pid is alive.
        """
        manifest = self.read_manifest() if manifest is None else manifest
        status = str(manifest.get("status") or "unknown")
        if status != "running":
            return status
        held = self.locked()
        if held is None:
            held = _pid_alive(manifest.get("pid"))
        return "running" if held else "interrupted"

    # -- damage ----------------------------------------------------------------
    def _damage(self, path: Path, line: int, reason: str, note: str) -> None:
        """Record and report a damaged part of a file, once per store."""
        if any(d.path == path and d.line == line for d in self.damaged):
            return
        damage = Damage(path, line, reason, note)
        self.damaged.append(damage)
        report_damage(damage)

    def _read_object(self, name: str, note: str) -> dict[str, Any] | None:
        """A JSON file of the run that readers can do without: ``None`` when absent or damaged."""
        path = self.dir / name
        if not path.is_file():
            return None
        value, problem = _json_problem(path)
        if problem is not None:
            self._damage(path, *problem, note)
        return value

    def set_aside(self, path: Path) -> Path:
        """Move a damaged file into ``damaged/`` beside it as ``<name>.<UTC time>``: kept, never
        deleted, and out of every reader's way (none looks there, and the name no longer ends in
        ``.jsonl``). Returns where it went."""
        folder = path.parent / "damaged"
        folder.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target, n = folder / f"{path.name}.{stamp}", 1
        while target.exists():
            target, n = folder / f"{path.name}.{stamp}-{n}", n + 1
        os.replace(path, target)
        return target

    def repair(self) -> list[str]:
        """Set every damaged file of the run aside before a run works on it; one line per file.

        A damaged shard goes to ``records/<stage>/damaged/`` and its readable lines are salvaged:
        written back byte for byte under the shard's own name, so which record of an item wins
        (the newest shard's) does not change; the items of its unreadable lines have no record
        any more, and the run takes them from the cache or recomputes them. A damaged error file,
        ``stats.json`` or ``items.json`` goes to ``damaged/`` and the run writes it anew; so does a
        damaged manifest (the attempt then counts as the first). Call it with the lock held.
        """
        notes = []
        for name, then in ((MANIFEST, "this attempt counts as the first"), (STATS, "written anew"),
                           (ITEMS, "written anew")):
            path = self.dir / name
            problem = _json_problem(path)[1] if path.is_file() else None
            if problem is not None:
                notes.append(f"damaged run file {path}, line {problem[0]}: {problem[1]}; set aside as "
                             f"{self.set_aside(path)}, {then}")
        for path in sorted(self.dir.glob("*.errors.jsonl")):
            _, bad = self._read_errors(path)
            if bad:
                notes.append(f"damaged run file {path}, line {bad[0][0]}: {bad[0][1]}; set aside as "
                             f"{self.set_aside(path)}, its stage lists its failed items again")
        for stage in self.stages_with_records():
            if not self.knows_record_type(stage):  # a plug-in's records nothing here can read: left as they are
                continue
            for shard in self.shards(stage):
                good, bad = self._read_shard(shard)
                if not bad:
                    continue
                moved = self.set_aside(shard)
                if good:
                    atomic_write_text(shard, "".join(text + "\n" for _, text, _ in good))
                notes.append(f"damaged run file {shard}, line {bad[0][0]}: {bad[0][1]}; set aside as {moved}; kept its "
                             f"{len(good)} readable records, the items of its {_lines(len(bad))} unreadable are "
                             "taken from the cache or recomputed")
        return notes

    # -- manifest and stats --------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        """The run's manifest (``{}`` before a run wrote one).

        Raises:
            DamagedRunError: it is unreadable; without it nothing says what the run is.
        """
        path = self.dir / MANIFEST
        if not path.is_file():
            return {}
        value, problem = _json_problem(path)
        if problem is not None:
            raise DamagedRunError(
                f"damaged run file {path}, line {problem[0]}: {problem[1]}; the run cannot be read without its "
                "manifest (`m2t run` with the run's config and --run-id sets the file aside and resumes the run)")
        return value

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.dir / MANIFEST, manifest)

    def write_items(self, items: list[Any]) -> None:
        """The dataset's items at the latest attempt (records of other ids are stale), with what
        analysis needs beside the records: split, gold labels, title, metadata (media by path)."""
        atomic_write_json(self.dir / ITEMS, {"item_ids": [i.item_id for i in items],
                                             "items": [i.model_dump(mode="json", exclude={"truth"}) for i in items]})

    _ITEMS_LOST = ("read without it: every record counts as current, splits and gold labels are unknown "
                   "(`m2t run` on the run writes it anew)")

    def items(self) -> list[dict[str, Any]] | None:
        """The items written by :meth:`write_items` (``None`` for runs written before, or when the
        file is damaged)."""
        data = self._read_object(ITEMS, self._ITEMS_LOST)
        return data.get("items") if data is not None else None

    def item_ids(self) -> set[str] | None:
        """The current items' ids (``None`` for runs written before ``items.json`` existed, or when
        the file is damaged)."""
        data = self._read_object(ITEMS, self._ITEMS_LOST)
        return set(data["item_ids"]) if data is not None and isinstance(data.get("item_ids"), list) else None

    def current_records(self, stage: str) -> list[Record]:
        """The stage's records of items still in the dataset (stale ones left out)."""
        ids = self.item_ids()
        return [r for r in self.records(stage) if ids is None or r.item_id in ids]

    def read_stats(self) -> dict[str, Any]:
        """Counts and timings of the latest attempt (``{}`` when absent or damaged)."""
        return self._read_object(STATS, "read without it: the latest attempt's counts, timings and warnings are "
                                        "unknown") or {}

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

    def knows_record_type(self, stage: str) -> bool:
        """Whether ``stage``'s record class is known here: built in, registered, or imported
        now from the path the run manifest gives for a plug-in stage (``record_types``)."""
        if stage in RECORD_TYPES:
            return True
        path = (self.read_manifest().get("record_types") or {}).get(stage)
        if path is None:
            return False
        try:
            import_record_type(path)
        except UnknownRecordTypeError:
            return False
        return stage in RECORD_TYPES

    def records(self, stage: str) -> list[Record]:
        """All readable records of a stage; if an item appears twice (re-done), the newest wins.
        Unreadable lines are skipped and reported (:attr:`damaged`).

        Raises:
            UnknownRecordTypeError: the stage's record class is neither built in nor
                importable from the run manifest's ``record_types`` (the message says what
                to import).
        """
        if not self.knows_record_type(stage):
            path = (self.read_manifest().get("record_types") or {}).get(stage)
            if path:
                import_record_type(path)  # raises, saying why
            raise UnknownRecordTypeError(f"run {self.run_id} has records of stage {stage!r}, whose record class is not "
                                         "known here: import the module that defines the stage first")
        latest: dict[str, Record] = {}
        for shard in self.shards(stage):
            good, bad = self._read_shard(shard)
            for _, _, record in good:
                latest[record.item_id] = record
            if bad:
                self._damage(shard, *bad[0], f"skipped {_lines(len(bad))}, read the other {len(good)} records "
                                             "(`m2t run` on the run sets the file aside and recomputes what it lost)")
        return list(latest.values())

    def _read_shard(self, shard: Path) -> tuple[list[tuple[int, str, Record]], list[tuple[int, str]]]:
        """A shard's readable records as (line, its text, record) and its unreadable lines."""
        rows, bad = read_jsonl(shard)
        good = []
        for number, text, row in rows:
            try:
                good.append((number, text, parse_record(row)))
            except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
                bad.append((number, f"not a record ({first_line(exc, 120)})"))
        return good, sorted(bad)

    def stages_with_records(self) -> list[str]:
        folder = self.dir / "records"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    # -- errors --------------------------------------------------------------
    def errors_path(self, stage: str) -> Path:
        return self.dir / f"{stage}.errors.jsonl"

    def errors(self, stage: str) -> list[ErrorRecord]:
        """The stage's failed items of its latest attempt; unreadable lines skipped and reported."""
        path = self.errors_path(stage)
        if not path.is_file():
            return []
        errors, bad = self._read_errors(path)
        if bad:
            self._damage(path, *bad[0], f"skipped {_lines(len(bad))}, read the other {len(errors)} errors (`m2t run` "
                                        "on the run writes the file anew)")
        return errors

    @staticmethod
    def _read_errors(path: Path) -> tuple[list[ErrorRecord], list[tuple[int, str]]]:
        rows, bad = read_jsonl(path)
        errors = []
        for number, _, row in rows:
            try:
                errors.append(ErrorRecord.model_validate(row))
            except ValueError as exc:
                bad.append((number, f"not an error record ({first_line(exc, 120)})"))
        return errors, sorted(bad)

    def write_errors(self, stage: str, errors: list[ErrorRecord]) -> None:
        """Replace the stage's error file with the errors of its latest attempt."""
        path = self.errors_path(stage)
        if errors:
            atomic_write_text(path, to_jsonl(errors))
        elif path.exists():
            path.unlink()
