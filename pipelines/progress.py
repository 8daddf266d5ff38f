"""How the runner shows a stage's progress: a callback, so a notebook, a log or a test can
show (or count) it its own way. ``progress(stage, total)`` is a context manager that yields
``advance(n)``, called as each batch of ``n`` items finishes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

Advance = Callable[[int], None]
ProgressBars = Callable[[str, int], AbstractContextManager[Advance]]


@contextmanager
def no_bars(stage: str, total: int) -> Iterator[Advance]:
    """Shows nothing."""
    yield lambda n: None


def rich_bars(console: Any = None) -> ProgressBars:
    """One rich progress bar per stage that computes something (stage name, bar, n of total,
    time left), on ``console`` (rich's default console when None)."""

    @contextmanager
    def bars(stage: str, total: int) -> Iterator[Advance]:
        if total == 0:
            yield lambda n: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn(f"[bold]{stage:<18}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=False) as progress:
            task = progress.add_task(stage, total=total)
            yield lambda n: progress.advance(task, n)

    return bars
