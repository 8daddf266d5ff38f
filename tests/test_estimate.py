"""The cost estimate: `m2t run --dry-run` says what each stage would do and take without
running anything; a run keeps the estimate beside the measured time in stats.json and teaches
the next estimate this machine's throughput."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipelines.config import validate_config
from pipelines.estimate import DEFAULT_MS_PER_ITEM, read_rates, record_rates
from pipelines.runner import Runner
from tests.conftest import ROOT, write_manifest


def _config(tmp_path: Path, n: int = 12):
    rows = [{"id": f"v{i}", "title": f"Video {i} about {'cats' if i % 2 else 'coffee'}",
             "description": f"A text-only item number {i}.", "split": "train" if i % 3 else "test",
             "labels": {"popularity": "local-hit" if i % 2 else "global-big-hit"}} for i in range(n)]
    manifest = write_manifest(tmp_path, rows)
    return validate_config({"name": "estimate", "task": "popularity", "dataset": {"path": str(manifest)},
                            "stages": {"summarize": {}, "embed": {}, "retrieve_similar": {"k": 2}}})


def test_dry_run_then_run_then_dry_run_again(tmp_path: Path):
    cfg = _config(tmp_path)
    runner = Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False)
    items, _, before = runner.dry_run()
    assert not runner.store.dir.exists()  # nothing written
    assert (before["summarize"].to_compute, before["summarize"].unknown) == (12, 0)
    assert (before["embed"].to_compute, before["embed"].unknown) == (0, 12)  # keys depend on summarize's records
    assert before["embed"].rate_from == "default"
    assert before["embed"].seconds == round(12 * DEFAULT_MS_PER_ITEM["embed"] / 1000, 1)

    result = Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False).run()
    stats = json.loads((result.run_dir / "stats.json").read_text())
    for stage in ("summarize", "embed", "retrieve_similar"):
        assert stats["stages"][stage]["estimated_seconds"] == stats["estimate"][stage]["seconds"]
        assert stats["stages"][stage]["seconds"] > 0
    rates = read_rates(tmp_path / "cache")
    assert rates["embed|bundled:all-minilm-l6-v2"]["items"] == 12

    again = Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False)
    _, _, after = again.dry_run()
    assert all(e.done == e.items and e.to_compute == e.unknown == 0 and e.seconds == 0 for e in after.values())
    assert after["embed"].rate_from.startswith("measured")
    # a fresh run id over the same cache: everything is a cache hit, known before running
    fresh = Runner(cfg, runs_dir=tmp_path / "runs2", cache_dir=tmp_path / "cache", show_progress=False)
    _, _, cached = fresh.dry_run()
    assert [e.cached for e in cached.values()] == [12, 12, 12]


def test_rates_are_a_running_mean_over_items(tmp_path: Path):
    record_rates(tmp_path, {"embed": ("m", 1.0, 10)})  # 100 ms an item
    record_rates(tmp_path, {"embed": ("m", 6.0, 30)})  # 200 ms an item
    assert read_rates(tmp_path)["embed|m"] == {**read_rates(tmp_path)["embed|m"], "ms_per_item": 175.0, "items": 40}


def test_m2t_run_dry_run_on_the_demo_config_prints_the_estimate(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "pipelines/configs/popularity.yaml", "--dry-run",
                           "--runs-dir", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "160"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "dry run of popularity-" in done.stdout and "estimated wall time" in done.stdout
    for stage in ("extract_frames", "transcribe_audio", "predict", "audit_claims"):
        assert stage in done.stdout
    assert not (tmp_path / "runs").exists()
