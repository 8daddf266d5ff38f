"""analysis/notebooks/popularity.ipynb executes on a fresh demo run (the demo config with its
bundled LLM, plus one ablation variant made by `m2t ablate`), and its output cells hold the
tables: metrics with intervals and the baseline, the baselines, the ablation table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # a cold demo run and one ablation variant: about 3-4 min on 2 cores
NOTEBOOK = ROOT / "analysis" / "notebooks" / "popularity.ipynb"


def outputs_text(cell: dict) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts.append(data.get("text/plain", "") + data.get("text/html", ""))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("notebook")
    command = [sys.executable, "-m", "pipelines.cli", "ablate", "pipelines/configs/popularity.yaml", "--variant",
               "title only", "--runs-dir", str(tmp / "runs"), "--cache-dir", str(tmp / "cache")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return tmp / "runs"


def test_the_notebook_executes_and_shows_its_tables(demo_runs: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("M2T_RUNS_DIR", str(demo_runs))
    monkeypatch.delenv("M2T_RUN", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    text = "\n".join(outputs_text(c) for c in code)
    for expected in ("balanced accuracy", "macro F1", "majority baseline", "logreg on embeddings", "LLM + mlp vote",
                     "metadata=title_only", "expected calibration error", "rocket_countdown", "[system]"):
        assert expected in text, expected
    images = [o for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the confusion matrix and the reliability diagram
