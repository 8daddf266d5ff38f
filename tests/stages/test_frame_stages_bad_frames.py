"""Bad frames (1x1 px, grayscale, 8K, corrupt JPEG) in every frame stage: a clear error for
the item that cannot be read, the others are processed, the batch completes."""

from pathlib import Path

import pytest

from pipelines.executors import LocalExecutor
from pipelines.stages import get_stage
from pipelines.stages.registry import ModelPool
from tests.stages.frames_fixtures import bad_frame_ctxs, bad_frame_items, frames_of


@pytest.fixture(scope="module")
def bad_items(sample_rows, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-frames")
    row = next(r for r in sample_rows if r["id"] == "stroop_green")
    _, frames = frames_of(row, tmp, num_frames=1)
    return bad_frame_items(tmp / "bad", Path(frames.frames[0].path))


@pytest.mark.parametrize("stage", ["read_onscreen_text", "measure_visuals", "describe_frames"])
def test_bad_frames_fail_alone(stage: str, bad_items, tmp_path: Path):
    spec = get_stage(stage)
    tasks = bad_frame_ctxs(stage, bad_items, tmp_path, models=ModelPool())
    outcomes = {o.item_id: o for o in LocalExecutor().run_batch(spec, spec.config_cls(), tasks)}
    assert set(outcomes) == {"good", "one_px", "grey", "eight_k", "corrupt"}
    for ok in ("good", "grey", "eight_k"):
        assert outcomes[ok].record is not None, (ok, outcomes[ok].error)
    assert "one.jpg is 1x1 px; frames must be at least 16 px" in outcomes["one_px"].error.reason
    assert "corrupt.jpg is not a readable image" in outcomes["corrupt"].error.reason
    for bad in ("one_px", "corrupt"):
        assert outcomes[bad].error.error_type == "BadInputError" and "\n" not in outcomes[bad].error.reason
    if stage == "read_onscreen_text":
        assert outcomes["good"].record.text == "GREEN"
        assert outcomes["eight_k"].record.text == "GREEN"  # read after downscaling, boxes in 8K pixels
        box = outcomes["eight_k"].record.frames[0].lines[0].box
        assert max(x for x, _ in box) > 3000
