"""A damaged run costs only what the damaged file held: on a real finished run (text stages,
MiniLM and the bundled SmolLM2), every shard truncated at a random byte and one written over
with garbage, every read command says in one line per file what it skipped (exit 0) or, when
it cannot go on, why (exit 2), never with a traceback; the same `m2t run` then sets the damaged
shards aside, kept, and finishes with records equal to the undamaged run's. Also: an unreadable
manifest, stats, items or error file; every --out problem in one line; `m2t runs` and `m2t
status` agreeing on a run's state."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from analysis import load_run
from pipelines.cli import app
from pipelines.store import RunStore
from tests.conftest import ROOT, write_manifest

ROWS = [
    {"id": "t1", "title": "World Cup final highlights", "description": "All goals of the final", "split": "train",
     "labels": {"popularity": "global-big-hit"}},
    {"id": "t2", "title": "Town council meeting", "description": "New parking rules in our town", "split": "train",
     "labels": {"popularity": "local-hit"}},
    {"id": "t3", "title": "Official music video", "description": "The new single of a world famous singer",
     "split": "train", "labels": {"popularity": "global-big-hit"}},
    {"id": "q1", "title": "Minutes of the village council", "description": "Parking and bins", "split": "test",
     "labels": {"popularity": "local-hit"}},
    {"id": "q2", "title": "Football goals of the season", "description": "Best goals", "split": "test",
     "labels": {"popularity": "global-big-hit"}},
]
LLM = {"backend": "local", "model": "bundled:smollm2-135m-instruct", "max_tokens": 48}
TIMING = {"created_at", "seconds"}  # when and how long: the only fields a re-run may change


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> dict:
    """One finished run (batches of 2: several shards per stage) and the command that made it."""
    tmp = tmp_path_factory.mktemp("damaged")
    cfg = {"name": "study", "task": "popularity", "dataset": {"path": str(write_manifest(tmp, ROWS))},
           "run": {"batch_size": 2},
           "stages": {"summarize": {}, "embed": {}, "retrieve_similar": {"k": 2},
                      "predict": {"mode": "zero_shot", "llm": LLM}}}
    (tmp / "study.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    paths = {"tmp": tmp, "runs": tmp / "runs", "cache": tmp / "cache"}
    paths["command"] = ["run", str(tmp / "study.yaml"), "--runs-dir", str(paths["runs"]), "--cache-dir",
                        str(paths["cache"]), "--run-id", "r", "--no-progress"]
    code, output = invoke(*paths["command"])
    assert code == 0, output
    paths["run"] = paths["runs"] / "r"
    return paths


def copy_run(finished: dict, name: str) -> tuple[Path, list[str]]:
    """A copy of the finished runs folder, and the original command pointed at it."""
    runs = finished["tmp"] / name / "runs"
    shutil.copytree(finished["runs"], runs)
    command = list(finished["command"])
    command[command.index("--runs-dir") + 1] = str(runs)
    return runs / "r", command


def payloads(run_dir: Path) -> dict[str, dict[str, dict]]:
    store = RunStore(run_dir)
    return {stage: {r.item_id: r.model_dump(mode="json", exclude=TIMING) for r in store.records(stage)}
            for stage in store.stages_with_records()}


def damage(run_dir: Path, rng: random.Random) -> dict[Path, bytes]:
    """Truncates every shard inside a random line (so that line is cut short, never whole), then
    writes garbage (bytes that are not UTF-8, a stray newline) over the middle of one."""
    shards = sorted((run_dir / "records").glob("*/part-*.jsonl"))
    assert len(shards) >= 6
    for shard in shards:
        data = shard.read_bytes()
        ends = [i for i, byte in enumerate(data) if byte == ord("\n")]
        line = rng.randrange(len(ends))
        start = ends[line - 1] + 1 if line else 0
        shard.write_bytes(data[: rng.randrange(start + 1, ends[line])])
    victim = rng.choice(shards)
    data = bytearray(victim.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 6] = b"\xff\xfe\x00\n\x80}"
    victim.write_bytes(bytes(data))
    return {shard: shard.read_bytes() for shard in shards}


def read_commands(run_dir: Path, original: Path, out: Path) -> dict[str, list[str]]:
    runs = ["--runs-dir", str(run_dir.parent)]
    return {
        "status": ["status", str(run_dir), *runs],
        "runs": ["runs", *runs],
        "export": ["export", str(run_dir), "--out", str(out / "export"), *runs],
        "report": ["report", str(run_dir), "--out", str(out / "report"), *runs],
        "audit": ["audit", str(run_dir), "--out", str(out / "audit"), *runs],
        "compare": ["compare", str(original), str(run_dir), *runs],
        "baseline": ["baseline", str(run_dir), "--out", str(out / "nn.csv"), *runs],
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_shard_truncated_read_commands_go_on_and_run_recomputes(finished: dict, seed: int):
    expected = payloads(finished["run"])
    run_dir, command = copy_run(finished, f"seed{seed}")
    damaged = damage(run_dir, random.Random(seed))

    for name, args in read_commands(run_dir, finished["run"], run_dir.parent.parent / "out").items():
        code, output = invoke(*args)
        assert code in (0, 2) and "Traceback" not in output, (name, output)
        lines = output.splitlines()
        read = [p for p in damaged if "predict" in p.parts] if name == "runs" else list(damaged)
        for shard in read:  # each file it read said once, with its line
            said = [line for line in lines if str(shard) in line]
            assert len(said) == 1 and "damaged run file" in said[0] and ", line " in said[0], (name, shard, output)
        if name == "status":  # a finished run that lost records does not read as whole
            assert f"damaged: {len(damaged)} run files partly unreadable" in output, output
    loaded = load_run(run_dir)  # a notebook sees what was skipped
    assert {d.path for d in loaded.damaged} == set(damaged) and "damaged file parts skipped" in repr(loaded)

    code, output = invoke(*command)
    assert code == 0, output
    for shard, data in damaged.items():  # set aside, kept as they were; no reader looks there
        kept = list((shard.parent / "damaged").glob(f"{shard.name}.*"))
        assert len(kept) == 1 and kept[0].read_bytes() == data, shard
        assert f"damaged run file {shard}, line " in output and f"set aside as {kept[0]}" in output
    assert payloads(run_dir) == expected
    code, output = invoke("status", str(run_dir))  # nothing skipped now; the set-aside lines stay in stats.json
    assert code == 0 and "skipped" not in output and "completed" in output and "set aside" in output, output


def test_damaged_manifest_stats_items_and_errors(finished: dict):
    run_dir, command = copy_run(finished, "files")
    (run_dir / "stats.json").write_bytes((run_dir / "stats.json").read_bytes()[:40])
    (run_dir / "items.json").write_bytes(b"\xff\xfe{garbage")
    errors = run_dir / "predict.errors.jsonl"
    errors.write_text('{"item_id": "q1", "stage": "predict", "error_type": "X", "reason": "gone"}\n{"item_id": "q2", "st')
    code, output = invoke("status", str(run_dir))
    assert code == 0 and "Traceback" not in output
    for path in (run_dir / "stats.json", run_dir / "items.json", errors):
        said = [text for text in output.splitlines() if str(path) in text]
        assert len(said) == 1 and f"damaged run file {path}, line " in said[0], output
    assert "q1: gone" in output  # the readable error still shown
    data = load_run(run_dir)
    assert len(data.damaged) == 3 and list(data.errors["item_id"]) == ["q1"] and "predict" in data.stages

    manifest = run_dir / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:200])
    for args in (["status", str(run_dir)], ["export", str(run_dir)], ["report", str(run_dir)],
                 ["compare", str(run_dir), str(finished["run"])], ["audit", str(run_dir)], ["baseline", str(run_dir)]):
        code, output = invoke(*args)
        lines = output.strip().splitlines()
        assert code == 2 and len(lines) == 1 and f"damaged run file {manifest}, line " in lines[0], (args, output)
    code, output = invoke("runs", "--runs-dir", str(run_dir.parent))
    assert code == 0 and "damaged" in output and f"damaged run file {manifest}" in output

    code, output = invoke(*command)
    assert code == 0, output
    for name in ("manifest.json", "stats.json", "items.json", "predict.errors.jsonl"):
        assert len(list((run_dir / "damaged").glob(f"{name}.*"))) == 1, name
        assert f"damaged run file {run_dir / name}" in output
    assert payloads(run_dir) == payloads(finished["run"]) and not errors.exists()
    assert not load_run(run_dir).damaged


@pytest.mark.parametrize("command,option", [("export", "folder"), ("report", "folder"), ("audit", "folder"),
                                            ("baseline", "file"), ("data synth", "folder")])
def test_every_out_problem_is_one_line(finished: dict, tmp_path: Path, command: str, option: str):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    a_folder = tmp_path / "a-folder"
    a_folder.mkdir()
    problems = {"a file where a folder is expected": a_file if option == "folder" else None,
                "a folder where a file is expected": a_folder if option == "file" else None,
                "a parent that is a file": a_file / "below" / ("x.csv" if option == "file" else "out"),
                "a folder nobody can write": Path("/proc") / ("x.csv" if option == "file" else ""),
                "a folder that cannot be made": Path("/proc/m2t/out") / ("x.csv" if option == "file" else "")}
    head = command.split() + ([] if command == "data synth" else [str(finished["run"])])
    for problem, target in problems.items():
        if target is None:
            continue
        code, output = invoke(*head, "--out", str(target))
        lines = output.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "Traceback" not in output, (problem, output)
        assert lines[0].startswith("error: --out ") and str(target) in lines[0], (problem, lines[0])
    assert a_file.read_text() == "x" and not list(a_folder.iterdir())


def test_runs_and_status_agree_on_the_state(finished: dict, tmp_path: Path):
    """A run whose process got SIGTERM (its manifest still says running) is interrupted for both;
    while a process holds the run, running for both."""
    run_dir, _ = copy_run(finished, "state")
    store = RunStore(run_dir)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import os, time; from pipelines.store import RunStore; "
         f"s = RunStore({str(run_dir)!r}); s.lock(); m = s.read_manifest(); m.update(status='running', pid=os.getpid()); "
         "s.write_manifest(m); print('locked', flush=True); time.sleep(600)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"

        def states() -> tuple[str, str]:
            _, listing = invoke("runs", "--runs-dir", str(run_dir.parent))
            _, status = invoke("status", str(run_dir))
            row = next(line for line in listing.splitlines() if line.startswith("│ r "))
            return row.split("│")[4].strip(), status.splitlines()[0].split("status: ")[1].split()[0]

        assert states() == ("running", "running") and store.state() == "running"
        holder.send_signal(signal.SIGTERM)
        holder.wait(timeout=30)
    finally:
        holder.kill()
    assert states() == ("interrupted", "interrupted") and store.state() == "interrupted"
    (run_dir / "run.lock").unlink()  # a run without a lock file: its pid decides
    assert store.state({"status": "running", "pid": holder.pid}) == "interrupted"
    assert store.state({"status": "completed"}) == "completed"


def test_export_writes_headers_of_empty_tables(finished: dict, tmp_path: Path):
    code, output = invoke("export", str(finished["run"]), "--out", str(tmp_path))
    assert code == 0, output
    assert (tmp_path / "errors.csv").read_text().splitlines() == ["item_id,stage,key,error_type,reason,created_at"]
    assert list(load_run(finished["run"]).errors.columns) == ["item_id", "stage", "key", "error_type", "reason",
                                                             "created_at"]


def test_messages_says_why_there_is_no_prompt(finished: dict):
    run = load_run(finished["run"])
    assert run.messages("q1")[-1][1]
    with pytest.raises(ValueError, match="predict sent no prompt for item 't1' of the train split.*test split"):
        run.messages("t1")
    with pytest.raises(KeyError, match="no item 'nope' in run r"):
        run.messages("nope")
    with pytest.raises(ValueError, match="run r has no hypothesize stage"):
        run.messages("q1", stage="hypothesize")
