"""Recomputing gives the same record: the demo's text stages over the whole sample set with the
real bundled models, computed from empty caches twice — by the session's cold demo run (a
`m2t run` process, tests/conftest.py) and again here, in this process — agree field by field
(the LLM stages are left out here: tests/test_batch_invariance.py recomputes them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import load_config
from pipelines.records import FrameRef, Record, TranscriptRecord
from pipelines.runner import Runner
from pipelines.store import RunStore
from tests.conftest import ROOT, SAMPLES, DemoRun

# every stage of the demo before embed: what summarize reads, so every key equals the demo run's
TEXT_STAGES = ("extract_frames", "read_onscreen_text", "measure_visuals", "detect_objects", "describe_frames",
               "transcribe_audio", "describe_audio", "summarize")
# what legitimately differs between two computations of the same record
VOLATILE = {"seconds", "created_at"}

pytestmark = pytest.mark.slow  # one run of the text stages (about 60 s on 2 cores) beside the session's demo run


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


@dataclass
class Computed:
    """The text stages' records of one computation, by stage and item, and where its cache is."""

    records: dict[str, dict[str, Record]]
    computed: dict[str, int]
    cache_dir: Path


@pytest.fixture(scope="module")
def two_runs(popularity_demo: DemoRun, tmp_path_factory: pytest.TempPathFactory) -> tuple[Computed, Computed]:
    store = RunStore(popularity_demo.run)
    demo = Computed({s: {r.item_id: r for r in store.records(s)} for s in TEXT_STAGES},
                    {s: popularity_demo.stats["stages"][s]["computed"] for s in TEXT_STAGES}, popularity_demo.cache_dir)
    tmp_path = tmp_path_factory.mktemp("determinism")
    result = Runner(demo_text_config(), runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", run_id="demo",
                    show_progress=False).run()
    assert result.exit_code == 0, result.summary_line()
    again = Computed({s: result.records[s] for s in TEXT_STAGES},
                     {s: result.stages[s].computed for s in TEXT_STAGES},
                     tmp_path / "cache")
    return demo, again


@pytest.mark.timeout(1800)  # the session's cold demo run, if no test made it before
def test_two_runs_from_empty_caches_give_the_same_records(two_runs, sample_rows):
    first, second = two_runs
    ids = {row["id"] for row in sample_rows}
    for computed in (first, second):
        for stage in TEXT_STAGES:
            assert set(computed.records[stage]) == ids, stage
            assert computed.computed[stage] == len(ids), stage  # from empty caches: every record computed
    differences = {}
    for stage in TEXT_STAGES:
        for item_id in sorted(ids):
            one = comparable(first.records[stage][item_id], first.cache_dir)
            two = comparable(second.records[stage][item_id], second.cache_dir)
            assert one.keys() == two.keys()
            differing = sorted(k for k in one if one[k] != two[k])
            if differing:
                differences[f"{stage}/{item_id}"] = differing
    assert not differences, differences


def test_no_transcript_timestamp_is_past_the_end_of_the_media(two_runs, sample_rows):
    truth = {row["id"]: row["truth"]["duration_s"] for row in sample_rows}
    for computed in two_runs:
        for item_id, record in computed.records["transcribe_audio"].items():
            assert isinstance(record, TranscriptRecord)
            # the decoded audio may outlast the video track by a frame or two (AAC priming), not more
            assert record.duration_s <= truth[item_id] + 0.1, item_id
            for segment in record.segments:
                assert 0 <= segment.start_s <= segment.end_s <= record.duration_s, (item_id, segment)


def test_frame_refs_are_under_the_cache_dir(two_runs):
    for computed in two_runs:
        for record in computed.records["extract_frames"].values():
            assert all(isinstance(f, FrameRef) and Path(f.path).is_relative_to(computed.cache_dir)
                       for f in record.frames)
