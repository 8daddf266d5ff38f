"""Named registries: tasks, speech backends, LLM backends, frame describers.

One registry per kind of plug-in, and every reader looks names up in it — the config's
validation, the stage that loads the plug-in, ``m2t status`` and ``analysis.load_run`` alike.
A registry may have a *discover* step (import every module of a package) that runs once,
the first time a name is looked up, so that a new file in ``pipelines/tasks/`` is known
without being imported by hand anywhere.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from pipelines.errors import ConfigError

T = TypeVar("T")


def import_package_modules(package: str) -> None:
    """Import every module of ``package`` (names starting with ``_`` left out)."""
    module = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


class Registry(Generic[T]):
    """Plug-ins of one kind, by name.

    Args:
        kind: what is registered, for error messages ("task", "speech backend").
        discover: imports the modules that register the built-in entries (run once, lazily).
    """

    def __init__(self, kind: str, discover: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._discover = discover
        self._discovered = discover is None

    def _ensure(self) -> None:
        if not self._discovered:
            self._discovered = True  # before importing: a module may look itself up while registering
            assert self._discover is not None
            self._discover()

    def register(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Add ``entry`` as ``name``; registering a different entry under a taken name is an
        error unless ``replace``."""
        if name in self._entries and self._entries[name] is not entry and not replace:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """The entry ``name``, or a :class:`ConfigError` that lists the known names."""
        if name not in self._entries:
            self._ensure()
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names()) or '(none)'}")
        return self._entries[name]

    def names(self) -> list[str]:
        self._ensure()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._ensure()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def check(self, name: str) -> str:
        """``name`` when registered (for pydantic validators), else a ``ValueError`` listing
        the known names."""
        if name not in self:
            raise ValueError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return name
