"""The LLM judge: the evidence timeline, the reading of its verdicts (a verdict needs a valid
cited line), and the real bundled model splitting and judging through the audit stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.audit.checks import Evidence, VideoEvidence
from pipelines.audit.judge import VERDICTS, Line, read_judgement, timeline
from pipelines.models.llm import LLMConfig
from pipelines.records import PredictionRecord
from tests.conftest import make_ctx

LINES = [Line(0.0, "[0.0–2.0 s] shot 1: close-up, camera static", Evidence("measure_visuals", "shots", "close-up", 0.0)),
         Line(2.0, "[2.0–4.0 s] sound: music (Music)", Evidence("describe_audio", "segments", "music", 2.0))]


def test_a_verdict_rests_on_cited_lines():
    verdict = read_judgement(json.dumps({"reason": "music follows the close-up", "evidence": [1, 2],
                                         "verdict": "supported"}), LINES, "judge")
    assert verdict.verdict == "supported" and [e.stage for e in verdict.evidence] == ["measure_visuals",
                                                                                      "describe_audio"]


@pytest.mark.parametrize("reply", [
    json.dumps({"reason": "it is so", "evidence": [], "verdict": "contradicted"}),  # nothing cited
    json.dumps({"reason": "it is so", "evidence": [7], "verdict": "supported"}),  # a line that does not exist
    "I think this claim is probably true.",  # no JSON
])
def test_a_verdict_without_valid_evidence_is_unverifiable(reply):
    verdict = read_judgement(reply, LINES, "judge")
    assert verdict.verdict == "unverifiable" and not verdict.evidence


def test_the_timeline_is_in_time_order_and_cites_its_records(clips):
    _, evidence = clips["night"]
    lines = timeline(evidence)
    assert [line.start_s for line in lines] == sorted(line.start_s for line in lines)
    text = "\n".join(line.text for line in lines)
    assert "shot 2: scale unknown, camera pan left" in text and "shot 3: close-up, camera static" in text
    assert "speech: \"" in text and {line.evidence.stage for line in lines} >= {"measure_visuals", "transcribe_audio"}
    assert len(timeline(evidence, max_lines=5)) == 5


@pytest.mark.slow
def test_the_bundled_model_splits_and_judges_through_the_stage(clips, tmp_path: Path):
    """Real model, real evidence: every claim placed in the text; an order claim goes to the
    judge, whose verdict is one of the three and cites timeline lines when it decides."""
    from pipelines.stages.audit_claims import AuditClaimsConfig, audit_claims

    item, evidence = clips["night"]
    text = ("The clip is dark and low-key, with a close-up of a face. The camera pans left, then it zooms out. "
            "A voice asks whether someone is at the gate.")
    inputs = {"measure_visuals": evidence.visuals, "detect_objects": evidence.objects,
              "read_onscreen_text": evidence.ocr, "transcribe_audio": evidence.transcript,
              "predict": PredictionRecord.model_construct(explanation=text)}
    cfg = AuditClaimsConfig(targets=["predict.explanation"], judge_types=["temporal"],
                            llm=LLMConfig(backend="onnx", model="bundled:qwen2.5-0.5b-instruct", max_tokens=300))
    ctx = make_ctx("audit_claims", tmp_path, inputs)
    ctx.cache_dir = tmp_path / "cache"
    record = audit_claims([item], cfg, [ctx])[0]
    assert record.model == "rules + bundled:qwen2.5-0.5b-instruct"
    assert record.split["predict.explanation"] == "llm" or record.split["predict.explanation"].startswith("sentences (")
    for claim in record.claims:
        assert 0 <= claim.start < claim.end <= len(text)
    ordered = [c for c in record.claims if "zooms out" in c.text]
    assert len(ordered) == 1 and ordered[0].checked_by == "judge" and ordered[0].verdict in VERDICTS
    assert "judge" in ordered[0].reason
    if ordered[0].verdict != "unverifiable":
        timeline_values = {str(line.evidence.value) for line in timeline(VideoEvidence(
            visuals=evidence.visuals, objects=evidence.objects, ocr=evidence.ocr, transcript=evidence.transcript,
            metadata=dict(item.metadata)))}
        assert ordered[0].evidence and all(e.value in timeline_values for e in ordered[0].evidence)
    # the rules still decide what they can: the light and the close-up, however the model cut the first
    # sentence (one claim typed by its shot scale, or two)
    ruled = [c for c in record.claims if c.type in ("lighting", "shot_scale")]
    assert ruled and all(c.checked_by == "rules" and c.verdict == "supported" for c in ruled), [
        (c.text, c.type, c.checked_by, c.verdict) for c in record.claims]
