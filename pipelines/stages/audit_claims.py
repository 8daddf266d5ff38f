"""audit_claims: every claim of the generated texts of a video, checked against its evidence.

The texts are chosen by ``targets`` (those whose stage ran are audited):

* ``predict.explanation`` — the explained prediction;
* ``analyse_film.analysis`` — each film student's critical analysis;
* ``hypothesize.hypotheses`` — each usable hypothesis (claims about *other* videos: checked
  against this video's evidence only when ``hypotheses_against_video`` is set);
* ``describe_frames.descriptions`` — each frame description, from any backend.

Each text is cut into typed claims (``pipelines/audit/claims.py``: sentences by pysbd, then
clauses) and each claim gets a verdict from the rule checkers (``pipelines/audit/checks.py``)
against the same video's records (a frame description's against its own frame's) — ``measure_visuals``, ``detect_objects``,
``read_onscreen_text``, ``transcribe_audio``, ``describe_audio`` and the item's metadata —
``supported``, ``contradicted`` or ``unverifiable``, with the evidence it rests on.
Interpretations are unverifiable by design. The record keeps each whole text (a report
highlights the claims by their character spans) and the counts per verdict.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import Field

from pipelines.records import (
    AuditedClaim, AuditRecord, EvidenceRef, FilmAnalysisRecord, FrameDescriptionsRecord, HypothesesRecord, Item,
    PredictionRecord,
)
from pipelines.stages.registry import StageConfig, StageContext, stage

TARGETS = ("predict.explanation", "analyse_film.analysis", "hypothesize.hypotheses", "describe_frames.descriptions")
EVIDENCE_STAGES = ("measure_visuals", "detect_objects", "read_onscreen_text", "transcribe_audio", "describe_audio")


class AuditClaimsConfig(StageConfig):
    targets: list[str] = Field(list(TARGETS), description="texts to audit (<stage>.<field>); those of stages "
                                                          "that did not run are skipped")
    hypotheses_against_video: bool = Field(False, description="also check hypotheses (statements about the "
                                                              "neighbours) against this video's evidence")


def audited_texts(cfg: AuditClaimsConfig, inputs: dict[str, Any]) -> dict[str, tuple[str, float | None]]:
    """source -> (text, the time it is about: a frame description's frame, else None) for every
    target whose record is present (empty texts left out)."""
    out: dict[str, tuple[str, float | None]] = {}
    for target in cfg.targets:
        record = inputs.get(target.split(".")[0])
        if target == "predict.explanation" and isinstance(record, PredictionRecord):
            out[target] = (record.explanation, None)
        elif target == "analyse_film.analysis" and isinstance(record, FilmAnalysisRecord):
            out.update({f"{target}[{a.student}]": (a.analysis, None) for a in record.answers})
        elif target == "hypothesize.hypotheses" and isinstance(record, HypothesesRecord):
            out.update({f"{target}[{h.number}]": (h.text, None) for h in record.hypotheses})
        elif target == "describe_frames.descriptions" and isinstance(record, FrameDescriptionsRecord):
            out.update({f"{target}[{d.timestamp_s:.1f} s]": (d.text, d.timestamp_s) for d in record.descriptions})
    return {k: v for k, v in out.items() if v[0] and v[0].strip()}


def _evidence(item: Item, inputs: dict[str, Any]) -> Any:
    from pipelines.audit.checks import VideoEvidence

    return VideoEvidence(visuals=inputs.get("measure_visuals"), objects=inputs.get("detect_objects"),
                         ocr=inputs.get("read_onscreen_text"), transcript=inputs.get("transcribe_audio"),
                         sound=inputs.get("describe_audio"), metadata=dict(item.metadata))


def _value(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


@stage("audit_claims", version=1, config=AuditClaimsConfig, record=AuditRecord,
       uses=(*EVIDENCE_STAGES, "describe_frames", "hypothesize", "predict", "analyse_film"), reads=("metadata",))
def audit_claims(item: Item, cfg: AuditClaimsConfig, ctx: StageContext) -> AuditRecord:
    from pipelines.audit.checks import at_time, check_claim
    from pipelines.audit.claims import split_claims

    texts = audited_texts(cfg, ctx.inputs)
    whole = _evidence(item, ctx.inputs)
    claims: list[AuditedClaim] = []
    for source, (text, time_s) in texts.items():
        evidence = whole if time_s is None else at_time(whole, time_s)
        for claim in split_claims(text):
            if source.startswith("hypothesize.") and not cfg.hypotheses_against_video:
                verdict_name, reason, cited = "unverifiable", "a hypothesis about other videos", []
            else:
                verdict = check_claim(claim.text, claim.type, evidence)
                verdict_name, reason = verdict.verdict, verdict.reason
                cited = [EvidenceRef(stage=e.stage, field=e.field, value=_value(e.value)[:300], time_s=e.time_s,
                                     frame_index=e.frame_index) for e in verdict.evidence]
            claims.append(AuditedClaim(source=source, text=claim.text, start=claim.start, end=claim.end,
                                       type=claim.type, verdict=verdict_name, reason=reason, evidence=cited))
    return AuditRecord(**{**ctx.provenance, "model": "rules"}, sources={s: t for s, (t, _) in texts.items()},
                       claims=claims,
                       counts=dict(Counter(c.verdict for c in claims)))
