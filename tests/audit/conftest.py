"""The audit tests' shared evidence: two generated clips through the real evidence stages, made
once per session (tests/conftest.py keeps the files that read it in one pytest-xdist group)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipelines.audit.checks import VideoEvidence
from tests.conftest import ROOT, make_ctx, sample_item


def evidence_for(item: Any, tmp: Path) -> VideoEvidence:
    """``item`` through extract_frames (8 frames), measure_visuals, detect_objects, OCR and
    transcription with the bundled models: the evidence the audit's rules read."""
    from pipelines.stages.detect_objects import DetectObjectsConfig, detect_objects
    from pipelines.stages.extract_frames import ExtractFramesConfig, extract_frames
    from pipelines.stages.measure_visuals import MeasureVisualsConfig, measure_visuals
    from pipelines.stages.read_onscreen_text import (
        ReadOnscreenTextConfig,
        read_onscreen_text,
    )
    from pipelines.stages.transcribe_audio import (
        TranscribeAudioConfig,
        transcribe_audio,
    )

    frames = extract_frames(item, ExtractFramesConfig(num_frames=8), make_ctx("extract_frames", tmp))
    inputs = {"extract_frames": frames}
    return VideoEvidence(
        visuals=measure_visuals(item, MeasureVisualsConfig(), make_ctx("measure_visuals", tmp, inputs)),
        objects=detect_objects(item, DetectObjectsConfig(), make_ctx("detect_objects", tmp, inputs)),
        ocr=read_onscreen_text(item, ReadOnscreenTextConfig(), make_ctx("read_onscreen_text", tmp, inputs)),
        transcript=transcribe_audio(item, TranscribeAudioConfig(), make_ctx("transcribe_audio", tmp)),
        metadata=dict(item.metadata),
    )


@pytest.fixture(scope="session")
def clips(sample_rows: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, VideoEvidence]]:
    """(item, evidence) of the sample "espresso" (on-screen text, a cup, speech, two shots) and
    the generated film clip "film_night_watch" (dark, a close-up, a pan left, cuts every 2 s)."""
    from pipelines.datasets.manifest import row_to_item

    espresso = sample_item(next(r for r in sample_rows if r["id"] == "espresso"))
    film_dir = ROOT / "data" / "samples" / "film"
    row = next(json.loads(line) for line in (film_dir / "manifest.jsonl").read_text().splitlines()
               if json.loads(line)["id"] == "film_night_watch")
    night = row_to_item(row, film_dir, 1)
    return {"espresso": (espresso, evidence_for(espresso, tmp_path_factory.mktemp("espresso"))),
            "night": (night, evidence_for(night, tmp_path_factory.mktemp("night")))}
