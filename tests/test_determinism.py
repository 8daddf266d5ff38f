"""Recomputing gives the same record: the demo's text stages, run twice from empty caches over
the whole sample set with the real bundled models, agree field by field (the LLM stages are
left out: they are not loaded here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.config import load_config
from pipelines.records import FrameRef, Record, TranscriptRecord
from pipelines.runner import Runner
from tests.conftest import ROOT, SAMPLES

TEXT_STAGES = ("extract_frames", "read_onscreen_text", "measure_visuals", "describe_frames", "transcribe_audio",
               "summarize")
# what legitimately differs between two computations of the same record
VOLATILE = {"seconds", "created_at"}

pytestmark = pytest.mark.slow  # two full runs of the text stages: about 70 s on 2 cores


def demo_text_config() -> Any:
    """The demo's own settings (pipelines/configs/popularity.yaml) for its text stages only."""
    path = ROOT / "pipelines" / "configs" / "popularity.yaml"
    others = [name for name in load_config(path).stages if name not in TEXT_STAGES]
    config = load_config(path, [f"stages.{name}=null" for name in others]
                         + [f"dataset.path={SAMPLES / 'manifest.jsonl'}"])
    assert tuple(config.stages) == TEXT_STAGES
    return config


def comparable(record: Record, cache_dir: Path) -> dict[str, Any]:
    """The record without timing fields, its artifact paths made relative to the cache dir."""
    data = record.model_dump(mode="json", exclude=VOLATILE)
    for frame in data.get("frames", []):
        if "path" in frame:
            frame["path"] = str(Path(frame["path"]).relative_to(cache_dir))
    return data


def run_once(tmp_path: Path, name: str) -> tuple[Any, Path]:
    cache_dir = tmp_path / name / "cache"
    result = Runner(demo_text_config(), runs_dir=tmp_path / name / "runs", cache_dir=cache_dir, run_id="demo",
                    show_progress=False).run()
    return result, cache_dir


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("determinism")
    return run_once(tmp_path, "first"), run_once(tmp_path, "second")


def test_two_runs_from_empty_caches_give_the_same_records(two_runs, sample_rows):
    (first, first_cache), (second, second_cache) = two_runs
    ids = {row["id"] for row in sample_rows}
    for result in (first, second):
        assert result.exit_code == 0
        for stage in TEXT_STAGES:
            assert set(result.records[stage]) == ids, stage
            assert result.stages[stage].computed == len(ids) and result.stages[stage].from_cache == 0, stage
    differences = {}
    for stage in TEXT_STAGES:
        for item_id in sorted(ids):
            one = comparable(first.records[stage][item_id], first_cache)
            two = comparable(second.records[stage][item_id], second_cache)
            assert one.keys() == two.keys()
            differing = sorted(k for k in one if one[k] != two[k])
            if differing:
                differences[f"{stage}/{item_id}"] = differing
    assert not differences, differences


def test_no_transcript_timestamp_is_past_the_end_of_the_media(two_runs, sample_rows):
    truth = {row["id"]: row["truth"]["duration_s"] for row in sample_rows}
    for result, _ in two_runs:
        for item_id, record in result.records["transcribe_audio"].items():
            assert isinstance(record, TranscriptRecord)
            # the decoded audio may outlast the video track by a frame or two (AAC priming), not more
            assert record.duration_s <= truth[item_id] + 0.1, item_id
            for segment in record.segments:
                assert 0 <= segment.start_s <= segment.end_s <= record.duration_s, (item_id, segment)


def test_frame_refs_are_under_the_cache_dir(two_runs):
    (first, first_cache), _ = two_runs
    for record in first.records["extract_frames"].values():
        assert all(isinstance(f, FrameRef) and Path(f.path).is_relative_to(first_cache) for f in record.frames)
