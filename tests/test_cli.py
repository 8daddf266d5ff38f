"""The m2t command as a user runs it: real subprocesses, real models."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from pipelines.store import RunStore
from tests.conftest import ROOT, SAMPLES, config_dict

STAGES = ["extract_frames", "transcribe_audio", "summarize"]


def m2t(*args: str, timeout: float = 300, columns: str | None = "200", **kw) -> subprocess.CompletedProcess:
    """``m2t *args`` with its output to a pipe; ``columns``: the ``COLUMNS`` it sees (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | ({"COLUMNS": columns} if columns else {})
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env, **kw)


def write_config(tmp_path: Path, **overrides) -> Path:
    cfg = config_dict(SAMPLES / "manifest.jsonl", batch_size=1)
    cfg.update(overrides)
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_help_is_fast_and_imports_no_heavy_library():
    probe = "import sys, pipelines.cli, pipelines.runner; print(sorted(m for m in ('torch','decord','faster_whisper','transformers','cv2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    help_text = m2t("--help").stdout
    for command in ("run", "status", "data", "stages"):
        assert command in help_text


def test_config_errors_are_one_line_with_exit_code_2(tmp_path: Path):
    cfg = write_config(tmp_path)
    result = m2t("run", str(cfg), "--set", "extract_frames.num_frame=3", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert "unknown key 'stages.extract_frames.num_frame'" in result.stderr
    assert "Traceback" not in result.stderr
    missing = m2t("run", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "config file not found" in missing.stderr


def test_kill_9_mid_run_then_the_same_command_completes(tmp_path: Path):
    cfg = write_config(tmp_path)
    args = ["run", str(cfg), "--runs-dir", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = None
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        shards = sorted((tmp_path / "runs").glob("*/records/transcribe_audio/part-*.jsonl"))
        if len(shards) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert shards and len(shards) >= 3
    run_dir = shards[0].parents[2]
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "running"
    status = m2t("status", str(run_dir))
    assert "interrupted" in status.stdout
    before = {p: p.read_bytes() for p in (run_dir / "records").rglob("*.jsonl")}

    again = m2t(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "all 11 items done" in again.stdout
    store = RunStore(run_dir)
    n_items = len((SAMPLES / "manifest.jsonl").read_text().splitlines())
    for stage in STAGES:
        records = store.records(stage)
        assert sorted(r.item_id for r in records) == sorted({r.item_id for r in records})
        assert len(records) == n_items, stage
    assert all(p.read_bytes() == data for p, data in before.items())  # nothing written was lost or changed
    stats = store.read_stats()["stages"]["transcribe_audio"]
    assert stats["done_before"] >= 3 and stats["computed"] == n_items - stats["done_before"] - stats["from_cache"]
    assert store.read_manifest()["status"] == "completed" and store.read_manifest()["attempt"] == 2


def test_run_prints_items_and_status_reads_the_run(tmp_path: Path):
    cfg = write_config(tmp_path)
    args = ["run", str(cfg), "--runs-dir", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"),
            "--limit", "2", "--run-id", "demo"]
    result = m2t(*args, columns=None)  # as `m2t run ... > log.txt`: no terminal, no COLUMNS
    assert result.returncode == 0, result.stderr
    assert "espresso" in result.stdout and "Good morning" in result.stdout
    for name in STAGES:  # the stage table at full width, not squeezed into 80 columns ("extrac…")
        assert any(line.startswith(f"│ {name} ") for line in result.stdout.splitlines()), result.stdout
    status = m2t("status", "demo", "--runs-dir", str(tmp_path / "runs"))
    assert status.returncode == 0 and "completed" in status.stdout
    unknown = m2t("status", "nope", "--runs-dir", str(tmp_path / "runs"))
    assert unknown.returncode == 2 and "demo" in unknown.stderr


def test_failed_items_give_exit_code_3_and_a_summary_line(tmp_path: Path):
    (tmp_path / "m.jsonl").write_text('{"id": "ghost", "path": "ghost.mp4"}\n{"id": "ok", "path": "ok.mp4"}\n')
    (tmp_path / "ok.mp4").write_bytes((SAMPLES / "horse_silent.mp4").read_bytes())
    cfg = config_dict(tmp_path / "m.jsonl")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    result = m2t("run", str(tmp_path / "c.yaml"), "--runs-dir", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 3
    assert "1 of 2 items done, 1 failed" in result.stdout
    assert "video file not found: ghost.mp4" in result.stdout


def test_stages_lists_every_stage_with_its_keys():
    """Every registered stage, its version and config keys; a key the case study fills in
    (task) is shown as such rather than failing the listing."""
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "stages"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    from pipelines.stages import STAGES

    shipped = [name for name, spec in STAGES.items() if spec.fn.__module__.startswith("pipelines.")]  # not tests'
    assert len(shipped) >= 15
    for name in shipped:
        assert name in result.stdout
    assert "task=(from the config)" in result.stdout and "num_frames=8" in result.stdout
