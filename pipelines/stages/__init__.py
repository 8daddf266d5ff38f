"""Pipeline stages: one file and one registered function each (see ``registry.py``).

Every module in this package is imported here, so a new stage file registers itself (and
its record class) for every reader — the runner, ``m2t status`` and ``analysis.load_run``
alike — without editing this file.
"""

import importlib
import pkgutil

from pipelines.stages.registry import STAGES, BadInputError, StageConfig, StageContext, StageSpec, stage


def _import_stage_modules() -> None:
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name != "registry" and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


_import_stage_modules()


def get_stage(name: str) -> StageSpec:
    """The registered stage ``name``, or a ``KeyError`` that lists the known ones."""
    try:
        return STAGES[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; known stages: {', '.join(sorted(STAGES))}") from None


__all__ = ["STAGES", "BadInputError", "StageConfig", "StageContext", "StageSpec", "get_stage", "stage"]
