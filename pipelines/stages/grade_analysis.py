"""grade_analysis: a teacher marks every student's film analysis against a rubric.

The judge (``llm``: any backend and model, recorded in every grade as ``judge_model``) is
shown the clip's **measured evidence** — the text representation from ``summarize``: light,
colour, shots with their measured scale and camera movement, objects, on-screen text,
speech, sound events — and one student's analysis, and marks three criteria from 1 to 5
with a reason each (``prompts/<task>/grade.md``):

* ``observations`` — are the observations about the clip correct?
* ``evidence`` — does the analysis use concrete visual and audio evidence?
* ``interpretation`` — is what the clip conveys argued from that evidence?

and an overall mark. With ``show_checks`` (default) the teacher is also shown what the audit's
rules found in the analysis — its claims cut by sentences and clauses and checked against the
clip's evidence (``pipelines/audit/explanation.py``, the code predict checks its explanations
with): how many were checkable and each one the evidence contradicts or holds nowhere. A
small judge shown the evidence alone gave every analysis of the demo the same marks; shown
the checks, its marks follow the errors. Reasons come before marks in the answer's schema (constrained where the
backend can). An answer that cannot be read is kept as ``extraction: failed`` with its raw
text; a student without an analysis gets no marks (``extraction: no analysis``), never a
made-up one. The claim-by-claim check of the same analyses is the audit's (``audit_claims``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pipelines.audit.checks import EVIDENCE_STAGES
from pipelines.budget import fit_record_text, token_counter
from pipelines.models.llm import LLMConfig, Messages
from pipelines.records import FilmAnalysisRecord, FilmAnswer, Grade, GradesRecord, Item, SummaryRecord
from pipelines.stages.registry import StageConfig, StageContext, stage

CRITERIA = ("observations", "evidence", "interpretation")


class GradeAnalysisConfig(StageConfig):
    task: str = Field(description="the case study's task (filled in from the config's task:)")
    llm: LLMConfig = Field(default_factory=lambda: LLMConfig(max_tokens=300), description="the judge")
    prompt: str | None = Field(None, description="prompt file; default <task>/grade")
    text_tokens: int = Field(1200, ge=100, description="the evidence is fitted into this many tokens")
    show_checks: bool = Field(True, description="show the teacher the audit rules' verdicts on the analysis's claims "
                                                "(how many were checkable, and the contradicted or unsupported ones)")


def prompt_name(cfg: GradeAnalysisConfig) -> str:
    return cfg.prompt or f"{cfg.task}/grade"


def grade_schema() -> dict[str, Any]:
    marks = {"type": "integer", "enum": [1, 2, 3, 4, 5]}
    return {"type": "object", "properties": {
        "reasons": {"type": "object", "properties": {c: {"type": "string", "minLength": 10, "maxLength": 160}
                                                     for c in CRITERIA}, "required": list(CRITERIA)},
        "scores": {"type": "object", "properties": {c: marks for c in CRITERIA}, "required": list(CRITERIA)},
        "overall": marks,
    }, "required": ["reasons", "scores", "overall"]}


def rule_checks(item: Item, cfg: GradeAnalysisConfig, ctx: StageContext, analysis: str) -> dict[str, Any] | None:
    """What the teacher is told of the analysis's claims: ``claims`` (how many), ``checkable``
    (supported, contradicted or unsupported) and ``flagged`` (text, verdict, reason of each
    contradicted or unsupported one); None when ``show_checks`` is off. The fields that define
    the exam's answers (genres, budget) are kept out of the evidence, so no reason carries them."""
    if not cfg.show_checks:
        return None
    from pipelines.audit.checks import video_evidence
    from pipelines.audit.explanation import check_explanation, named_claims
    from pipelines.tasks import get_task

    evidence = video_evidence(item, ctx.upstream, cfg.task, hide=get_task(cfg.task).defines_label)
    check = check_explanation(analysis, evidence)
    total = sum(check.counts.values())
    return {"claims": total, "checkable": total - check.counts.get("unverifiable", 0), "flagged": named_claims(check)}


def _messages(item: Item, cfg: GradeAnalysisConfig, ctx: StageContext, answer: FilmAnswer) -> Messages:
    from pipelines.prompts import load_prompt

    summary = ctx.upstream["summarize"]
    assert isinstance(summary, SummaryRecord)
    measure, _ = token_counter(cfg.llm)
    return load_prompt(prompt_name(cfg)).messages(video_text=fit_record_text(summary, cfg.text_tokens, measure),
                                                  analysis=answer.analysis,
                                                  checks=rule_checks(item, cfg, ctx, answer.analysis))


def render_grade(item: Item, cfg: GradeAnalysisConfig, ctx: StageContext) -> Messages:
    """The judge's messages for the first student's analysis (``m2t render grade_analysis``)."""
    record = ctx.upstream["analyse_film"]
    assert isinstance(record, FilmAnalysisRecord)
    return _messages(item, cfg, ctx, record.answers[0])


def read_grade(reply: str, answer: FilmAnswer, judge: str) -> Grade:
    """The marks in ``reply``; marks outside 1..5 or missing leave that criterion unmarked."""
    from pipelines.models.structured import json_objects

    found = [o for o in json_objects(reply) if "scores" in o]
    if not found:
        return Grade(student=answer.student, student_model=answer.model, judge_model=judge, scores={},
                     extraction="failed", raw=reply)
    obj = found[-1]
    raw_scores = obj.get("scores") if isinstance(obj.get("scores"), dict) else {}
    scores = {c: int(raw_scores[c]) for c in CRITERIA
              if isinstance(raw_scores.get(c), (int, float)) and 1 <= raw_scores[c] <= 5}
    reasons = obj.get("reasons") if isinstance(obj.get("reasons"), dict) else {}
    overall = obj.get("overall")
    return Grade(student=answer.student, student_model=answer.model, judge_model=judge, scores=scores,
                 overall=int(overall) if isinstance(overall, (int, float)) and 1 <= overall <= 5 else None,
                 reasons={c: " ".join(str(reasons[c]).split()) for c in CRITERIA if c in reasons},
                 extraction="json", raw=reply)


@stage("grade_analysis", version=3,  # 3: the audit's typing knows every cue its checkers know; 2: the teacher is shown the audit rules' verdicts on the analysis
       config=GradeAnalysisConfig, record=GradesRecord, needs=("analyse_film", "summarize"),
       uses=tuple(s for s in EVIDENCE_STAGES if s != "summarize"), item_parts=("metadata",), batched=True, prompts=lambda cfg: [prompt_name(cfg)], render=render_grade)
def grade_analysis(items: list[Item], cfg: GradeAnalysisConfig, ctxs: list[StageContext]) -> list[Any]:
    """Every gradable analysis of the batch in one request list, then the records."""
    from pipelines.prompts import load_prompt

    slots: list[tuple[int, FilmAnswer]] = []
    requests = []
    for i, ctx in enumerate(ctxs):
        record = ctx.upstream["analyse_film"]
        assert isinstance(record, FilmAnalysisRecord)
        for answer in record.answers:
            if answer.analysis.strip():
                slots.append((i, answer))
                requests.append((_messages(items[i], cfg, ctx, answer), grade_schema()))
    replies = ctxs[0].llm(cfg.llm).answer_all(requests) if requests else []  # a failed request: its item's error
    graded: dict[int, list[Grade]] = {i: [] for i in range(len(items))}
    failed: dict[int, Exception] = {}
    for (i, answer), reply in zip(slots, replies):
        if isinstance(reply, Exception):
            failed[i] = reply
        else:
            graded[i].append(read_grade(reply, answer, cfg.llm.model))
    prompt = load_prompt(prompt_name(cfg))
    out: list[Any] = []
    for i, ctx in enumerate(ctxs):
        if i in failed:
            out.append(failed[i])
            continue
        record = ctx.upstream["analyse_film"]
        grades = {g.student: g for g in graded[i]}
        out.append(GradesRecord(
            **{**ctx.provenance, "model": cfg.llm.model, "prompt_id": prompt.id, "prompt_version": prompt.version},
            grades=[grades.get(a.student) or Grade(student=a.student, student_model=a.model, judge_model=cfg.llm.model,
                                                   scores={}, extraction="no analysis")
                    for a in record.answers],  # type: ignore[union-attr]
        ))
    return out
