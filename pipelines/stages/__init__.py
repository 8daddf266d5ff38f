"""Pipeline stages: one file and one registered function each (see ``registry.py``)."""

from pipelines.stages.registry import STAGES, BadInputError, StageConfig, StageContext, StageSpec, stage
from pipelines.stages import (  # noqa: F401  (importing registers each stage)
    describe_frames,
    embed,
    extract_frames,
    hypothesize,
    measure_visuals,
    predict,
    read_onscreen_text,
    retrieve_similar,
    summarize,
    transcribe_audio,
)


def get_stage(name: str) -> StageSpec:
    """The registered stage ``name``, or a ``KeyError`` that lists the known ones."""
    try:
        return STAGES[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; known stages: {', '.join(sorted(STAGES))}") from None


__all__ = ["STAGES", "BadInputError", "StageConfig", "StageContext", "StageSpec", "get_stage", "stage"]
