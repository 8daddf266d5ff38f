"""audit_claims: every claim of the generated texts of a video, checked against its evidence.

The texts are chosen by ``targets`` (those whose stage ran are audited):

* ``predict.explanation`` — the explained prediction;
* ``analyse_film.analysis`` — each film student's critical analysis;
* ``hypothesize.hypotheses`` — each usable hypothesis (claims about *other* videos: checked
  against this video's evidence only when ``hypotheses_against_video`` is set);
* ``describe_frames.descriptions`` — each frame description, from any backend.

Each text is cut into typed claims — by the LLM (``llm``, for the texts in ``split_with_llm``:
``pipelines/audit/splitter.py``, each claim placed back in the text), else by sentences and
clauses (``pipelines/audit/claims.py``) — and each claim gets a verdict from the rule checkers
(``pipelines/audit/checks.py``) against the same video's records (a frame description's
against its own frame's) — ``measure_visuals``, ``detect_objects``, ``read_onscreen_text``,
``transcribe_audio``, ``describe_audio``, the ImageNet labels of ``describe_frames``, the
item's title, description and metadata (the fields ``summarize`` shows) — with the evidence it
rests on:

* ``supported`` — the evidence holds what the claim says;
* ``contradicted`` — a measurement says otherwise (a colour in no frame, an object detected in
  no frame, a quoted word OCR did not read …);
* ``unsupported`` — a content claim ("the video shows / is about …") names something found
  nowhere in the video's evidence (``pipelines/audit/content.py``): a hallucination of content;
* ``unverifiable`` — the rules cannot decide; interpretations (judgements such as "conveys
  suspense") by design.

Claims the rules leave unverifiable whose type is in ``judge_types`` (``temporal`` takes every
claim that orders events) go to the LLM judge when ``llm`` is set (``pipelines/audit/judge.py``:
the evidence timeline, line numbers cited). The record keeps each whole text (a report
highlights the claims by their character spans), how each was split, the claims the model
invented, and the counts per verdict.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import Field, field_validator

from pipelines.models.llm import LLMConfig
from pipelines.records import (
    AuditedClaim,
    AuditRecord,
    EvidenceRef,
    FilmAnalysisRecord,
    FrameDescriptionsRecord,
    HypothesesRecord,
    Item,
    PredictionRecord,
)
from pipelines.stages.registry import StageConfig, StageContext, stage

TARGETS = ("predict.explanation", "analyse_film.analysis", "hypothesize.hypotheses", "describe_frames.descriptions")
EVIDENCE_STAGES = ("measure_visuals", "detect_objects", "read_onscreen_text", "transcribe_audio", "describe_audio",
                   "summarize")


class AuditClaimsConfig(StageConfig):
    task: str | None = Field(None, description="the case study's task (filled in from the config's task:): its label "
                                               "words name no content of a video")
    targets: list[str] = Field(list(TARGETS), description="texts to audit (<stage>.<field>); those of stages "
                                                          "that did not run are skipped")
    hypotheses_against_video: bool = Field(False, description="also check hypotheses (statements about the "
                                                              "neighbours) against this video's evidence")
    llm: LLMConfig | None = Field(None, description="the model that splits texts into claims and judges the claims "
                                                    "rules cannot check; none: rules and the sentence splitter only")
    split_with_llm: list[str] = Field(["predict.explanation", "analyse_film.analysis"],
                                      description="targets the llm splits (the others: sentences and clauses)")
    judge_types: list[str] = Field(["temporal"], description="claim types the judge decides when the rules leave "
                                                             "them unverifiable (temporal: also every claim that "
                                                             "orders events); [] turns the judge off")
    judge_lines: int = Field(60, ge=5, le=400, description="evidence timeline lines the judge sees at most")

    @field_validator("targets", "split_with_llm")
    @classmethod
    def _known_targets(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in TARGETS]
        if unknown:
            raise ValueError(f"unknown target {unknown[0]!r}; known: {', '.join(TARGETS)}")
        return value

    @field_validator("judge_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        from pipelines.audit.claims import CLAIM_TYPES

        unknown = [t for t in value if t not in CLAIM_TYPES or t == "interpretation"]
        if unknown:
            raise ValueError(f"judge_types: {unknown[0]!r} is not a claim type the judge can take; known: "
                             + ", ".join(t for t in CLAIM_TYPES if t != "interpretation"))
        return value


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


def _value(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _refs(evidence: list[Any]) -> list[EvidenceRef]:
    return [EvidenceRef(stage=e.stage, field=e.field, value=_value(e.value)[:300], time_s=e.time_s,
                        frame_index=e.frame_index) for e in evidence]


def _llm_splits(cfg: AuditClaimsConfig, ctxs: list[StageContext], texts: list[dict[str, tuple[str, float | None]]]
                ) -> dict[tuple[int, str], Any]:
    """(item position, source) -> Split for the texts the LLM splits, asked in one request list."""
    from pipelines.audit.splitter import read_split, split_messages, split_schema

    slots = [(i, source) for i, by_source in enumerate(texts) for source in by_source
             if source.split("[", 1)[0] in cfg.split_with_llm]
    if cfg.llm is None or not slots:
        return {}
    replies = ctxs[0].llm(cfg.llm).complete_many([(split_messages(texts[i][s][0]), split_schema()) for i, s in slots])
    return {(i, s): read_split(reply, texts[i][s][0]) for (i, s), reply in zip(slots, replies)}


def _needs_judge(cfg: AuditClaimsConfig, claim: AuditedClaim) -> bool:
    from pipelines.audit.checks import ordered

    return (cfg.llm is not None and claim.verdict == "unverifiable" and claim.type != "interpretation"
            and not claim.source.startswith("hypothesize.")
            and (claim.type in cfg.judge_types or ("temporal" in cfg.judge_types and ordered(claim.text))))


def _audit_item(item: Item, cfg: AuditClaimsConfig, ctx: StageContext, texts: dict[str, tuple[str, float | None]],
                splits: dict[str, Any]) -> tuple[list[AuditedClaim], dict[str, str], list[str], Any]:
    """The rule verdicts of one item's claims, how each text was split, the claims the model
    invented, and the whole evidence (for the judge)."""
    from pipelines.audit.checks import at_time, audited_claim, video_evidence
    from pipelines.audit.claims import split_claims

    whole = video_evidence(item, ctx.upstream, cfg.task)
    claims: list[AuditedClaim] = []
    how: dict[str, str] = {}
    invented: list[str] = []
    for source, (text, time_s) in texts.items():
        evidence = whole if time_s is None else at_time(whole, time_s)
        split = splits.get(source)
        how[source] = split.how if split is not None else "sentences"
        invented += [f"{source}: {c}" for c in (split.invented if split is not None else [])]
        for claim in (split.claims if split is not None else split_claims(text)):
            if source.startswith("hypothesize.") and not cfg.hypotheses_against_video:
                claims.append(AuditedClaim(source=source, text=claim.text, start=claim.start, end=claim.end,
                                           type=claim.type, verdict="unverifiable",
                                           reason="a hypothesis about other videos"))
            else:
                claims.append(audited_claim(source, claim, evidence))
    return claims, how, invented, whole


def _judge(cfg: AuditClaimsConfig, ctxs: list[StageContext], audited: list[tuple[list[AuditedClaim], Any]]) -> None:
    """Replace, in place, the verdicts of the claims that go to the judge by the judge's."""
    from pipelines.audit.judge import judge_messages, judge_schema, read_judgement, timeline

    assert cfg.llm is not None
    slots, requests = [], []
    for claims, whole in audited:
        lines = timeline(whole, cfg.judge_lines)
        for k, claim in enumerate(claims):
            if _needs_judge(cfg, claim):
                slots.append((claims, k, lines))
                requests.append((judge_messages(claim.text, lines), judge_schema()))
    if not requests:
        return
    replies = ctxs[0].llm(cfg.llm).complete_many(requests)
    for (claims, k, lines), reply in zip(slots, replies):
        verdict = read_judgement(reply, lines, cfg.llm.model)
        claims[k] = claims[k].model_copy(update={
            "verdict": verdict.verdict, "reason": f"{verdict.reason} (rules: {claims[k].reason})",
            "evidence": _refs(verdict.evidence) or claims[k].evidence, "checked_by": "judge"})


def _prompts(cfg: AuditClaimsConfig) -> list[str]:
    return ["common/audit_split", "common/audit_judge"] if cfg.llm is not None else []


def print_audit(result: Any, cfg: Any, console: Any) -> None:
    """``m2t run``'s summary of the audit: one line per audited text — the explanations, each film student's analyses, the
    hypotheses — with the frame descriptions, composed from the measurements, last and apart:
    claims by verdict, the hallucination rate, (contradicted + unsupported) / verifiable, and the
    verifiable share, verifiable / claims, so that a text cannot look clean by saying nothing
    checkable (``m2t audit`` gives the rates per claim type with intervals)."""
    from collections import Counter

    from pipelines.audit.claims import COMPOSED_TEXTS, text_source

    audits = result.records.get("audit_claims", {})
    counts: dict[str, Counter[str]] = {}
    for rec in audits.values():
        for claim in rec.claims:
            counts.setdefault(text_source(claim.source), Counter())[claim.verdict] += 1
    for text, n in sorted(counts.items(), key=lambda kv: (kv[0] in COMPOSED_TEXTS, kv[0])):
        verifiable = n["supported"] + n["contradicted"] + n["unsupported"]
        rate = (f"hallucination rate {(n['contradicted'] + n['unsupported']) / verifiable:.0%} of the {verifiable} "
                f"verifiable: contradicted or unsupported; verifiable share {verifiable / sum(n.values()):.0%} of "
                "the claims") if verifiable else "none verifiable, verifiable share 0% of the claims"
        what = " (composed from the measurements: true by construction, apart)" if text in COMPOSED_TEXTS else ""
        console.print(f"audit of {text}{what}: {sum(n.values())} claims, {n['supported']} supported, {n['contradicted']} "
                  f"contradicted, {n['unsupported']} unsupported, {n['unverifiable']} unverifiable ({rate})",
                  highlight=False, soft_wrap=True, markup=False)  # "[text]" of a student is not markup
    if counts:
        console.print("unsupported: the text says the video shows or is about something found nowhere in its evidence; "
                  f"per claim type, with intervals, and the marked texts: m2t audit {result.run_dir}", highlight=False,
                  soft_wrap=True)


@stage("audit_claims", version=6,  # 6: claims typed by every cue the checkers know (audit/lexicon.py); 5: Snowball stems when claims and evidence are compared (4: a contradicted claim also names content found nowhere)
       config=AuditClaimsConfig, record=AuditRecord,
       uses=(*EVIDENCE_STAGES, "describe_frames", "hypothesize", "predict", "analyse_film"), item_parts=("metadata",),
       batched=True, prompts=_prompts, models=lambda cfg: [cfg.llm.model] if cfg.llm is not None else [], summary=print_audit)
def audit_claims(items: list[Item], cfg: AuditClaimsConfig, ctxs: list[StageContext]) -> list[Any]:
    """The batch's texts split (the LLM's in one request list), checked by the rules, the
    undecided ones judged (one request list), then one record per item."""
    texts = [audited_texts(cfg, ctx.upstream) for ctx in ctxs]
    try:
        splits = _llm_splits(cfg, ctxs, texts)
    except Exception as exc:  # the model failed for the batch: every item fails with the reason, none is half-done
        return [exc] * len(items)
    audited = [_audit_item(item, cfg, ctx, by_source, {s: splits[(i, s)] for (j, s) in splits if j == i})
               for i, (item, ctx, by_source) in enumerate(zip(items, ctxs, texts))]
    if cfg.llm is not None:
        try:
            _judge(cfg, ctxs, [(claims, whole) for claims, _, _, whole in audited])
        except Exception as exc:
            return [exc] * len(items)
    model = "rules" if cfg.llm is None else f"rules + {cfg.llm.model}"
    return [AuditRecord(**{**ctx.provenance, "model": model}, sources={s: t for s, (t, _) in by_source.items()},
                        claims=claims, split=how, invented=invented, counts=dict(Counter(c.verdict for c in claims)))
            for ctx, by_source, (claims, how, invented, _) in zip(ctxs, texts, audited)]
