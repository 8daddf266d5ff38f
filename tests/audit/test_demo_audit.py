"""The demo configs audit their generated texts: `m2t run` ends with the audit's counts per
audited text — the generated texts apart from the frame descriptions composed from the
measurements — and `m2t audit` on the film run prints the hallucination rate per claim type
(the popularity run's `m2t audit`: tests/analysis/test_notebook.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, DemoRun

# three film clips through the film demo's 1.5B, cold: 6 min with the other pytest-xdist worker
# busy, more on a loaded machine; the first test makes the run (beyond the suite's 600 s)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
ENV = {**os.environ, "COLUMNS": "160"}


@pytest.fixture(scope="module")
def film_run(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("film")
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "pipelines/configs/film.yaml", "--limit", "3",
                           "--runs-dir", str(tmp / "runs"), "--cache-dir", str(tmp / "cache")],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200, env=ENV)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return next((tmp / "runs").iterdir()), done.stdout


def test_the_film_run_ends_with_the_audit_of_its_analyses(film_run):
    _, stdout = film_run
    line = next(line for line in stdout.splitlines() if line.startswith("audit of analyse_film.analysis[text]:"))
    assert "claims" in line and "supported" in line and "contradicted" in line and "unsupported" in line


def test_m2t_audit_prints_rates_per_claim_type_on_the_film_run(film_run):
    run, _ = film_run
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "audit", str(run)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=ENV)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = {line.split("│")[1].strip(): line for line in done.stdout.splitlines() if line.count("│") > 6}
    assert {"lighting", "shot_scale", "all"} <= set(rows), done.stdout
    by_target = subprocess.run([sys.executable, "-m", "pipelines.cli", "audit", str(run), "--by", "student"],
                               cwd=ROOT, capture_output=True, text=True, timeout=300, env=ENV)
    assert by_target.returncode == 0 and "text" in by_target.stdout


def test_render_prints_every_request_the_text_student_is_sent(film_run):
    """m2t render analyse_film shows the exam and each shot's question (the clip printed once:
    the questions begin with the exam's system message and clip); no model is loaded."""
    run, _ = film_run
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "render", "analyse_film", "pipelines/configs/film.yaml",
                           "-n", "1", "--runs-dir", str(run.parent), "--run-id", run.name],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=ENV)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    from pipelines.store import RunStore

    asked = {r.item_id: len(r.shots_asked) for r in RunStore(run).records("analyse_film")}
    item_id = next(i for i in asked if f"analyse_film · {i} " in done.stdout)
    n_shots = asked[item_id]
    requests = n_shots + 1
    assert n_shots >= 1 and f"request 1 of {requests}" in done.stdout, done.stdout[-3000:]
    assert done.stdout.count("(its first 2 messages as in request 1)") == n_shots
    assert done.stdout.count("The clip:") == 1 and done.stdout.count("First copy entry (") == n_shots


@pytest.mark.timeout(1800)  # the session's cold demo run, if no test made it before
def test_reading_runs_with_every_record_type_imports_no_stage(film_run, popularity_demo: DemoRun):
    """analysis.load_run reads both demos' runs (between them every built-in record type)
    without importing one stage module: the record classes are readers' own."""
    from pipelines.records import RECORD_TYPES

    probe = ("import sys; from analysis import load_run; "
             f"stages = set(load_run({str(film_run[0])!r}).stages) | set(load_run({str(popularity_demo.run)!r}).stages); "
             "print(' '.join(sorted(stages))); print(' '.join(m for m in sys.modules if m.startswith('pipelines.stages')))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    read, imported = (done.stdout.split("\n") + [""])[:2]
    built_in = {name for name, cls in RECORD_TYPES.items() if cls.__module__ == "pipelines.records"}  # not tests' own
    assert set(read.split()) == built_in and imported == "", done.stdout


def test_the_analyses_were_split_by_the_model(film_run):
    from analysis import load_run

    run, _ = film_run
    audits = load_run(run)["audit_claims"]
    splits = [how for split in audits.split for source, how in split.items() if source.startswith("analyse_film.")]
    assert splits and all(how == "llm" or how.startswith("sentences (") for how in splits)
    assert set(audits.model) == {"rules + bundled:qwen2.5-0.5b-instruct"}


@pytest.mark.timeout(1800)  # the session's cold demo run, if no test made it before
def test_the_popularity_demo_reports_its_explanations_apart_from_the_frame_descriptions(popularity_demo: DemoRun):
    """The demo's last lines: one audit line for the explanations, with their own hallucination
    rate, and the composed frame descriptions on a line of their own, after it."""
    stdout = popularity_demo.stdout
    lines = [line for line in stdout.splitlines() if line.startswith("audit of ")]
    assert [line.split(":")[0].split(" (")[0] for line in lines] == [
        "audit of predict.explanation", "audit of describe_frames.descriptions"], stdout[-3000:]
    explanation, frames = lines
    assert "unsupported" in explanation and ("hallucination rate" in explanation or "none verifiable" in explanation)
    assert "composed from the measurements" in frames and "composed" not in explanation
    # the demo's reasoner is the bundled 1.5B on the onnx backend, loaded once; explanations split by the rules
    import json

    from analysis import load_run

    run = popularity_demo.run
    loads = [row["model"] for row in popularity_demo.stats["model_loads"]]  # the cold run's
    assert len(loads) == len(set(loads)), loads
    llms = [json.loads(m.removeprefix("llm:")) for m in loads if m.startswith("llm:")]
    assert [(m["backend"], m["model"]) for m in llms] == [("onnx", "bundled:qwen2.5-1.5b-instruct")], loads
    predictions = load_run(run).predictions
    assert len(predictions) >= 1 and set(predictions.model) == {"bundled:qwen2.5-1.5b-instruct"}
    assert predictions.explanation.str.len().min() > 20 and predictions.verifiable_share.notna().all()
