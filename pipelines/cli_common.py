"""What the ``m2t`` command modules share: the consoles, the common options, one-line
failures, run lookup (with a warning line per damaged part of a run file the command reads)
and checked ``--out`` paths."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

EXIT_USAGE = 2
PIPED_WIDTH = 200  # columns of tables written to a file or a pipe (``m2t run ... > log.txt``)


def _width(stream: object) -> int | None:
    """The console width: the terminal's (rich measures it) or ``COLUMNS``; written to a file or
    a pipe, :data:`PIPED_WIDTH`, where rich would assume 80 and cut stage names in tables."""
    if os.environ.get("COLUMNS") or getattr(stream, "isatty", lambda: False)():
        return None
    return PIPED_WIDTH


out = Console(width=_width(sys.stdout))
err = Console(stderr=True, soft_wrap=True, width=_width(sys.stderr))  # a one-line error stays one line in logs

RunsDir = Annotated[
    Path, typer.Option("--runs-dir", envvar="M2T_RUNS_DIR", help="where run directories go")
]
CacheDir = Annotated[
    Path, typer.Option("--cache-dir", envvar="M2T_CACHE_DIR", help="content-addressed cache of stage results")
]


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)  # a message is text, never markup
    raise typer.Exit(code)


def _watch_damage() -> None:
    """From now on, print each damaged part of a run file the command reads as one warning line
    (``pipelines/store.py`` finds them; several readers of one run say it once)."""
    from rich.markup import escape

    from pipelines.store import on_damage

    seen: set[str] = set()

    def show(damage: object) -> None:
        if str(damage) not in seen:
            seen.add(str(damage))
            err.print(f"[yellow]warning:[/] {escape(str(damage))}", highlight=False)

    on_damage(show)


def _resolve_run(run: str, runs_dir: Path) -> Path:
    """The run directory of a run id or path; fails in one line when there is none, or when its
    manifest is unreadable (nothing then says what the run is). Readers of the run from here on
    print what they skip (:func:`_watch_damage`)."""
    from pipelines.store import DamagedRunError, RunStore

    _watch_damage()
    path = Path(run)
    found = path if (path / "manifest.json").is_file() else (
        runs_dir / run if (runs_dir / run / "manifest.json").is_file() else None)
    if found is not None:
        try:
            RunStore(found).read_manifest()
        except DamagedRunError as exc:
            _fail(str(exc))
        return found
    known = sorted(p.parent.name for p in runs_dir.glob("*/manifest.json")) if runs_dir.is_dir() else []
    hint = f"; runs in {runs_dir}: {', '.join(known)}" if known else ""
    _fail(f"no run {run!r} (give a run id or a run directory){hint}")
    raise AssertionError  # unreachable


def _out_folder(path: Path, option: str = "--out", named: Path | None = None) -> Path:
    """``path`` as a folder a command can write into, made with its parents if missing; any
    problem (a file in its place or in a parent's, no permission, a read-only disk) ends the
    command in one line naming ``named`` (default: ``path``), before any work."""
    import tempfile

    shown = f"{option} {named or path}"
    if path.exists() and not path.is_dir():
        _fail(f"{shown}: {path} is a file, not a folder; give a folder")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        _fail(f"{shown}: {blocking} is a file, not a folder; give a path inside a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):  # writable? (root passes permission bits; a read-only disk not)
            pass
    except OSError as exc:
        _fail(f"{shown}: cannot create or write the folder {path} ({exc.strerror or exc}); give a folder you can "
              "write to")
    return path


def _out_file(path: Path, option: str = "--out") -> Path:
    """``path`` as a file a command can write (its folder made if missing); a folder in its place,
    or a folder that cannot be made or written, ends the command in one line."""
    if path.is_dir():
        _fail(f"{option} {path}: a folder is there; give a file name")
    _out_folder(path.parent, option, named=path)
    return path


def _write_failed(path: Path, exc: OSError) -> None:
    """A write that failed half-way (a full disk ...): one line naming the path."""
    _fail(f"cannot write {getattr(exc, 'filename', None) or path}: {exc.strerror or exc}")
