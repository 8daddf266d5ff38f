"""The bundled Whisper gives the same transcript, to the last logprob digit, whatever number of
threads numpy's BLAS may use (a Ray worker gets OMP_NUM_THREADS=1; a laptop has 8 cores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPT = """
import json
from pathlib import Path
from pipelines.models.asr import load_recognizer
r = load_recognizer("faster-whisper", "bundled:whisper-tiny.en", device="cpu", compute_type="int8", cpu_threads=0)
t = r.transcribe(Path("data/samples/espresso.mp4"), language="en", beam_size=5)
print(json.dumps([[s.text, s.avg_logprob, s.no_speech_prob] for s in t.segments]))
"""


@pytest.mark.slow
def test_transcripts_do_not_depend_on_blas_threads():
    outputs = []
    for threads in ("1", "2"):
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        env["OPENBLAS_NUM_THREADS"] = threads
        done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert outputs[0] == outputs[1] and "espresso" in outputs[0][0][0]
