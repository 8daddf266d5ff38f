"""The audit lines at the end of `m2t run`: one per audited text, the generated texts first, the
frame descriptions (composed from the measurements) last and marked apart, each with its own
hallucination rate — never one line that mixes them (the popularity demo run itself:
tests/audit/test_demo_audit.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from pipelines.records import AuditedClaim, AuditRecord


def _record(item_id: str, claims: list[tuple[str, str]]) -> AuditRecord:
    return AuditRecord(item_id=item_id, stage="audit_claims", stage_version=3, key="k", input_hash="i", config_hash="c",
                       sources={}, counts={},
                       claims=[AuditedClaim(source=source, text="t", start=0, end=1, type="content", verdict=verdict,
                                            reason="r") for source, verdict in claims])


def test_the_run_ends_with_one_audit_line_per_text_frame_descriptions_apart(capsys: pytest.CaptureFixture[str]):
    from pipelines.cli_common import out
    from pipelines.stages import get_stage

    frames = [(f"describe_frames.descriptions[{t}.0 s]", "supported") for t in range(9)]
    result = SimpleNamespace(run_dir=Path("data/runs/demo"), records={"audit_claims": {
        "a": _record("a", [*frames, ("predict.explanation", "unsupported"), ("predict.explanation", "supported"),
                           ("predict.explanation", "unverifiable")]),
        "b": _record("b", [("predict.explanation", "contradicted"), ("analyse_film.analysis[vlm]", "supported")]),
    }})
    get_stage("audit_claims").summary(result, None, out)  # what m2t run prints after its stage table
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("audit of ")]
    assert [line.split(":")[0] for line in lines] == [
        "audit of analyse_film.analysis[vlm]", "audit of predict.explanation",
        "audit of describe_frames.descriptions (composed from the measurements", ]
    explanation = lines[1]
    assert ("4 claims, 1 supported, 1 contradicted, 1 unsupported, 1 unverifiable (hallucination rate 67% of the 3 "
            "verifiable: contradicted or unsupported; verifiable share 75% of the claims)") in explanation
    assert "9 claims, 9 supported" in lines[2] and "hallucination rate 0%" in lines[2]


def test_a_text_with_nothing_checkable_says_its_verifiable_share_is_nil(capsys: pytest.CaptureFixture[str]):
    from pipelines.cli_common import out
    from pipelines.stages import get_stage

    result = SimpleNamespace(run_dir=Path("data/runs/demo"), records={"audit_claims": {
        "a": _record("a", [("predict.explanation", "unverifiable"), ("predict.explanation", "unverifiable")])}})
    get_stage("audit_claims").summary(result, None, out)  # what m2t run prints after its stage table
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("audit of ")]
    assert line.endswith("2 unverifiable (none verifiable, verifiable share 0% of the claims)")
