"""What the ``m2t`` command modules share: the consoles, the common options, one-line
failures and run lookup."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

EXIT_USAGE = 2

out = Console()
err = Console(stderr=True, soft_wrap=True)  # a one-line error stays one line in logs

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


def _resolve_run(run: str, runs_dir: Path) -> Path:
    path = Path(run)
    if (path / "manifest.json").is_file():
        return path
    if (runs_dir / run / "manifest.json").is_file():
        return runs_dir / run
    known = sorted(p.parent.name for p in runs_dir.glob("*/manifest.json")) if runs_dir.is_dir() else []
    hint = f"; runs in {runs_dir}: {', '.join(known)}" if known else ""
    _fail(f"no run {run!r} (give a run id or a run directory){hint}")
    raise AssertionError  # unreachable
