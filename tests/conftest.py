"""Shared fixtures. Tests run offline against the real bundled models and the committed samples."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Threads that wait sleep instead of spinning: OpenMP's (torch; set before torch is imported) and,
# as the onnx LLM backend honours it, onnxruntime-genai's; inherited by every `m2t` the tests start.
# With two pytest-xdist workers on two cores, spinning threads of one process take the cores the
# other needs (beside the running suite SmolLM2 answered in 16.5 s instead of 37 s, the onnx 0.5B
# decoded 22 instead of 16 tok/s). Which thread sums what is unchanged, so records are too.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"


def pytest_configure(config: pytest.Config) -> None:
    """In a pytest-xdist worker, torch's and OpenCV's thread pools get this worker's share of the
    cores (one each for two workers on two cores), as a Ray actor's do: with every worker's
    pools as wide as the machine, the threads of one small operation wait for each other while
    the other worker holds the cores (SmolLM2 answered 4x slower with 2 threads than with 1
    beside the running suite). Records do not depend on it (tests/executors/test_ray.py)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2:
        return
    import cv2
    import torch

    share = max(1, len(os.sched_getaffinity(0)) // workers)
    torch.set_num_threads(share)
    cv2.setNumThreads(share)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def sample_rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (SAMPLES / "manifest.jsonl").read_text().splitlines() if line.strip()]


def write_manifest(folder: Path, rows: list[dict[str, Any]], name: str = "manifest.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def copy_sample(name: str, folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLES / name, folder / name)
    return name


def config_dict(manifest: Path, stages: dict[str, Any] | None = None, batch_size: int = 4) -> dict[str, Any]:
    return {
        "name": "test",
        "task": "popularity",
        "dataset": {"path": str(manifest)},
        "stages": stages
        or {
            "extract_frames": {"num_frames": 4},
            "transcribe_audio": {"model": "bundled:whisper-tiny.en"},
            "summarize": {},
        },
        "run": {"batch_size": batch_size},
    }


def make_ctx(stage: str, tmp_path: Path, upstream: dict[str, Any] | None = None, models: Any = None) -> Any:
    """A stage context for calling a stage function directly (what the runner builds)."""
    from pipelines.stages.registry import ModelPool, StageContext

    provenance = {
        "item_id": "item", "stage": stage, "stage_version": 1, "key": "key",
        "input_hash": "input", "config_hash": "config", "model": None,
    }
    return StageContext(
        models=models or ModelPool(), provenance=provenance, upstream=upstream or {}, artifact_dir=tmp_path / "artifacts"
    )


def sample_item(row: dict[str, Any]) -> Any:
    from pipelines.datasets.manifest import row_to_item

    return row_to_item(row, SAMPLES, 1)


@pytest.fixture(scope="session")
def whisper_pool() -> Any:
    """One model pool for the session, so the bundled Whisper loads once for all tests."""
    from pipelines.stages.registry import ModelPool

    return ModelPool()


@dataclass(frozen=True)
class DemoRun:
    """One `m2t run pipelines/configs/popularity.yaml` from empty caches: its run directory,
    the runs and cache folders it wrote (later runs may add to them), what it printed and its
    `stats.json` as the cold run left it (a later run of the same config and run id would
    rewrite the file with its own, warm figures)."""

    run: Path
    runs_dir: Path
    cache_dir: Path
    stdout: str
    stats: dict[str, Any]


@pytest.fixture(scope="session")
def popularity_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The popularity demo, cold, with its bundled 1.5B: made once per session and read by the
    tests of its audit lines, its notebooks and `m2t audit` (7 min on 2 idle AMD EPYC cores;
    the first test that asks for it needs a timeout above the suite's 600 s)."""
    tmp = tmp_path_factory.mktemp("popularity_demo")
    runs_dir, cache_dir = tmp / "runs", tmp / "cache"
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "pipelines/configs/popularity.yaml",
                           "--runs-dir", str(runs_dir), "--cache-dir", str(cache_dir), "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True, timeout=3000, env={**os.environ, "COLUMNS": "160"})
    (tmp / "stdout.txt").write_text(done.stdout, encoding="utf-8")  # kept beside the run for a reader
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (run,) = [p.parent for p in runs_dir.glob("*/manifest.json")]
    return DemoRun(run=run, runs_dir=runs_dir, cache_dir=cache_dir, stdout=done.stdout,
                   stats=json.loads((run / "stats.json").read_text(encoding="utf-8")))


# Files that share something costly run in one worker, so that it is made once: the Ray files
# start a local Ray cluster (one at a time); the film report's real film run (built once per
# process) is read by the browser tests too; the generated clips' evidence (a session fixture of
# test_checks) is read by the judge's test too.
SHARED_GROUPS = {"tests/executors/test_ray.py": "ray", "tests/test_batch_invariance.py": "ray",
                 # the browser tests read both reports: the popularity one and the film one
                 "tests/analysis/test_report.py": "reports", "tests/analysis/test_film_report.py": "reports",
                 "tests/analysis/test_report_browser.py": "reports",
                 "tests/audit/test_checks.py": "audit_clips", "tests/audit/test_judge.py": "audit_clips"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups for pytest-xdist (`make test` runs ``-n auto --dist loadgroup``, groups in this
    order): a worker takes a whole group, so what a group shares is made once. A file is a group
    (its module fixtures); the files that read the session's cold popularity demo are one group;
    the files of SHARED_GROUPS share theirs. Without xdist the marks only set the order."""
    def file_of(item: pytest.Item) -> str:
        return item.nodeid.split("::")[0]

    demo_files = {file_of(item) for item in items if "popularity_demo" in getattr(item, "fixturenames", ())}

    def group(item: pytest.Item) -> str:
        path = file_of(item)
        return "popularity_demo" if path in demo_files else SHARED_GROUPS.get(path, path)

    slow = {group(item) for item in items if item.get_closest_marker("slow")}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(group(item)))
    # the longest first, so that no worker starts one near the end: the demo's readers, the groups
    # with slow tests, the rest (a stable sort: each keeps its order)
    items.sort(key=lambda item: (group(item) != "popularity_demo", group(item) not in slow))
