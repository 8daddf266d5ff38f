"""The Ray executor (a local Ray the run starts itself, 2 CPUs): the sample set's records equal
the local executor's; a Ray run killed mid-way resumes without redoing finished items; a worker
that dies costs only its batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import pytest

from pipelines.config import validate_config
from pipelines.records import Item, Record
from pipelines.runner import Runner
from pipelines.stages.registry import STAGES, StageConfig, StageContext, stage
from tests.conftest import ROOT

pytest.importorskip("ray", reason="the Ray executor's tests need the ray extra (make test installs it)")
pytestmark = pytest.mark.slow

SAMPLES = ROOT / "data" / "samples"
# three of the sample clips, between them on-screen text, a face, speech, cuts and a clip without
# audio, in two batches (two actors per stage): every stage's records compared; the eleven took
# many minutes more under Ray's one-thread workers (5 min for six with the other pytest-xdist
# worker busy) and showed nothing more
SUBSET = ("espresso", "astronaut_launch", "horse_silent")
STAGES_UNDER_TEST = {"extract_frames": {"num_frames": 4}, "read_onscreen_text": {}, "measure_visuals": {},
                     "transcribe_audio": {}, "summarize": {}, "embed": {}, "retrieve_similar": {"k": 3}}
VOLATILE = {"created_at", "seconds"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> dict[str, str]:
    """The subset's manifest (its clips read from the sample folder)."""
    rows = [json.loads(line) for line in (SAMPLES / "manifest.jsonl").read_text().splitlines() if line.strip()]
    path = tmp_path_factory.mktemp("subset") / "manifest.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows if r["id"] in SUBSET), encoding="utf-8")
    return {"path": str(path), "data_root": str(SAMPLES)}


def sample_config(dataset: dict[str, str], executor: str, **run: object):
    return validate_config({"name": "ray-equal", "task": "popularity", "dataset": dataset,
                            "stages": STAGES_UNDER_TEST,
                            "run": {"batch_size": 2, "executor": executor, "ray": {"num_cpus": 2}, **run}})


def comparable(record: Record, cache_root: Path) -> dict:
    """A record without its timing fields, with paths into its own cache made relative."""
    text = json.dumps(record.model_dump(mode="json", exclude=VOLATILE), sort_keys=True)
    return json.loads(text.replace(str(cache_root), "<cache>"))


def records_of(run_dir: Path, cache_root: Path) -> dict[str, dict[str, dict]]:
    from pipelines.store import RunStore

    store = RunStore(run_dir)
    return {s: {r.item_id: comparable(r, cache_root) for r in store.current_records(s)} for s in store.stages_with_records()}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, dataset: dict[str, str]) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("local")
    result = Runner(sample_config(dataset, "local"), runs_dir=tmp / "runs", cache_dir=tmp / "cache", show_progress=False).run()
    assert result.exit_code == 0, result.summary_line()
    return tmp, records_of(result.run_dir, (tmp / "cache").resolve())


def test_a_ray_run_gives_the_local_executors_records(local_run, dataset: dict[str, str], tmp_path: Path):
    _, expected = local_run
    result = Runner(sample_config(dataset, "ray"), runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache",
                    show_progress=False).run()
    assert result.exit_code == 0, result.summary_line()
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["executor"] == "ray"
    got = records_of(result.run_dir, (tmp_path / "cache").resolve())
    assert set(got) == set(expected) == set(STAGES_UNDER_TEST)
    for stage_name in STAGES_UNDER_TEST:
        assert got[stage_name] == expected[stage_name], stage_name
    # the workers wrote the shards, each named after its actor
    shards = list((result.run_dir / "records" / "measure_visuals").glob("part-*-w*.jsonl"))
    assert shards and len({p.stem.split("-", 2)[2] for p in shards}) == 2  # two actors wrote


def test_a_killed_ray_run_resumes_without_redoing_finished_items(local_run, dataset: dict[str, str], tmp_path: Path):
    _, expected = local_run
    config = tmp_path / "ray.yaml"
    config.write_text(json.dumps({"name": "ray-equal", "task": "popularity", "dataset": dataset,
                                  "stages": STAGES_UNDER_TEST,
                                  "run": {"batch_size": 2, "executor": "ray", "ray": {"num_cpus": 2}}}))
    command = [sys.executable, "-m", "pipelines.cli", "run", str(config), "--runs-dir", str(tmp_path / "runs"),
               "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    shards = tmp_path / "runs"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(shards.glob("*/records/read_onscreen_text/part-*.jsonl")):
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)  # the driver, the local Ray and its workers
    process.wait(timeout=60)
    subprocess.run([str(Path(sys.executable).parent / "ray"), "stop", "--force"], capture_output=True, timeout=120)
    run_dir = next(shards.iterdir())
    finished = {p.name: sum(1 for f in p.glob("part-*.jsonl") for _ in f.open()) for p in (run_dir / "records").iterdir()}
    assert finished.get("extract_frames") == len(SUBSET) and 0 < finished.get("read_onscreen_text", 0)

    resumed = subprocess.run([*command[:-1], "--executor", "local", "--no-progress"], cwd=ROOT, capture_output=True,
                             text=True, timeout=1200)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    stats = json.loads((run_dir / "stats.json").read_text())["stages"]
    assert stats["extract_frames"]["done_before"] == len(SUBSET) and stats["extract_frames"]["computed"] == 0
    assert stats["read_onscreen_text"]["done_before"] == finished["read_onscreen_text"]
    got = records_of(run_dir, (tmp_path / "cache").resolve())
    for stage_name in STAGES_UNDER_TEST:
        assert got[stage_name] == expected[stage_name], stage_name


class CrashRecord(Record):
    stage_name: ClassVar[str] = "crash_on_boom"
    value: str


class CrashConfig(StageConfig):
    pass


if "crash_on_boom" not in STAGES:
    @stage("crash_on_boom", version=1, config=CrashConfig, record=CrashRecord, item_parts=("metadata",))
    def crash_on_boom(item: Item, cfg: CrashConfig, ctx: StageContext) -> CrashRecord:
        """Kills its own worker process on the item titled 'boom' (a segfault in a model, say)."""
        if item.title == "boom":
            os._exit(1)
        return CrashRecord(**ctx.provenance, value=item.title.upper())


def test_a_worker_that_dies_costs_only_its_batch(tmp_path: Path):
    from tests.conftest import write_manifest

    rows = [{"id": f"i{n}", "title": "boom" if n == 3 else f"title {n}", "split": "test"} for n in range(8)]
    manifest = write_manifest(tmp_path, rows)
    cfg = validate_config({"name": "crash", "task": "popularity", "dataset": {"path": str(manifest)},
                           "stages": {"crash_on_boom": {}},
                           "run": {"batch_size": 2, "executor": "ray", "ray": {"num_cpus": 2}}})
    result = Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False).run()
    errors = {e.item_id: e for e in result.errors["crash_on_boom"]}
    assert set(errors) == {"i2", "i3"}  # the batch of the item that killed its worker
    assert all(e.error_type == "WorkerDied" and "retried" in e.reason for e in errors.values())
    done = result.records["crash_on_boom"]
    assert sorted(done) == ["i0", "i1", "i4", "i5", "i6", "i7"] and done["i6"].value == "TITLE 6"
