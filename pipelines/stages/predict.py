"""predict: a label with a confidence and an explanation, from the LLM.

Modes (the prompting strategies of Kayal et al.):

* ``zero_shot`` — the video's text alone;
* ``cot`` — reason step by step first, then answer;
* ``icl`` — the retrieved labelled neighbours as few-shot examples;
* ``hypotheses`` — the hypotheses formed from the neighbours (cited by number);
* ``hypotheses_nn`` — hypotheses plus a supervised model's prediction, read from
  ``nn_predictions`` (CSV/JSONL with ``item_id,label[,confidence]``) or an item metadata
  column ``nn_column``.

Extraction: the JSON answer is validated (label from the task's label set, or its 1–4
scale); if that fails, one repair request quotes the problem; if that fails too and the
model is local, the label is chosen by scoring each allowed label's log-likelihood. The
record's ``extraction`` says which path produced the label. Untrusted text is fenced in the
prompt, and injection-like phrases in it set ``possible_injection``.

Explanations about this video (``check_explanation``): before an answer is kept, its
explanation's claims are checked by the audit's rules against this video's evidence — its
upstream records, read through ``pipelines/audit/explanation.py`` with the code the
``audit_claims`` stage runs. An explanation with contradicted or unsupported claims goes back
to the model with those claims named (the first request again, then
``prompts/<task>/repair_explanation.md``; citing no hypothesis allowed), at most
``max_repairs`` times; the repaired answer is kept unless it is unusable or has more such
claims. The record keeps the first answer and every repair with their verdict counts, the
kept explanation's verifiable share, and a flag when its claims are still contradicted.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from pipelines.audit.checks import EVIDENCE_STAGES
from pipelines.budget import excerpt, fit_record_text, token_counter
from pipelines.errors import ConfigError
from pipelines.hypotheses import grounded
from pipelines.models.llm import LLMConfig, Messages
from pipelines.models.structured import AnswerError, PredictionAnswer, parse_prediction, quoted_reply
from pipelines.prompts import injection_signals, load_prompt, task_prompt
from pipelines.records import (
    ExplanationCheck,
    ExplanationRepair,
    HypothesesRecord,
    Item,
    NeighboursRecord,
    PredictionRecord,
    PredictionVersion,
    SummaryRecord,
)
from pipelines.stages.registry import StageConfig, StageContext, stage
from pipelines.tasks import TaskSpec, get_task

Mode = Literal["zero_shot", "cot", "icl", "hypotheses", "hypotheses_nn"]


class PredictConfig(StageConfig):
    task: str = Field(description="the case study's task (filled in from the config's task:)")
    mode: Mode = "hypotheses"
    prompt: str | None = Field(None, description="prompt file (<folder>/<name>); default <task>/predict_<mode>")
    llm: LLMConfig = Field(default_factory=LLMConfig)
    splits: list[str] | None = Field(["test"], description="items that are predicted (null: all)")
    icl_examples: int = Field(4, ge=1, le=20, description="icl: neighbours shown as examples")
    nn_predictions: str | None = Field(None, description="hypotheses_nn: file with item_id,label[,confidence]")
    nn_column: str | None = Field(None, description="hypotheses_nn: metadata column with the supervised label")
    text_tokens: int = Field(1200, ge=50, description="the video's text is fitted into this many tokens of the LLM "
                                                       "(every section keeps a share; pipelines/budget.py)")
    example_tokens: int = Field(200, ge=20, description="icl: each example's text is fitted into this many tokens")
    check_explanation: bool = Field(True, description="check each explanation's claims by the audit's rules against "
                                                      "this video's evidence before the answer is kept")
    max_repairs: int = Field(1, ge=0, le=3, description="times an explanation with contradicted or unsupported "
                                                        "claims goes back with them named (0: checked and "
                                                        "flagged only)")


def prompt_name(cfg: PredictConfig) -> str:
    return cfg.prompt or f"{cfg.task}/predict_{cfg.mode}"


def prompt_names(cfg: PredictConfig) -> list[str]:
    """Every prompt the config may send: the mode's, the JSON repair's and, when explanations
    go back, the explanation repair's."""
    names = [prompt_name(cfg), task_prompt(cfg.task, "repair_predict")]
    if cfg.check_explanation and cfg.max_repairs:
        names.append(task_prompt(cfg.task, "repair_explanation"))
    return names


def _nn_table(path: str) -> dict[str, tuple[str, float | None]]:
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"nn_predictions file not found: {path}")
    frame = pd.read_json(file, lines=True) if file.suffix in (".jsonl", ".ndjson") else pd.read_csv(file, dtype={"item_id": str})
    if not {"item_id", "label"} <= set(frame.columns):
        raise ConfigError(f"{path} needs the columns item_id and label")
    conf = frame["confidence"] if "confidence" in frame.columns else [None] * len(frame)
    return {str(i): (str(l), None if c is None or c != c else float(c)) for i, l, c in zip(frame["item_id"], frame["label"], conf)}


def supervised_prediction(item: Item, cfg: PredictConfig, task: TaskSpec, ctx: StageContext) -> tuple[str, float | None]:
    if cfg.nn_predictions:
        table = ctx.models.get(f"nn:{cfg.nn_predictions}", lambda: _nn_table(str(cfg.nn_predictions)))
        raw, confidence = table.get(item.item_id, (None, None))
    elif cfg.nn_column:
        raw, confidence = item.metadata.get(cfg.nn_column), None
    else:
        raise ConfigError("mode hypotheses_nn needs predict.nn_predictions (a file) or predict.nn_column")
    label = task.normalise_label(raw)
    if label is None:
        raise ConfigError(f"no usable supervised prediction for {item.item_id} (got {raw!r})")
    return label, confidence


def check_predict(cfg: PredictConfig, stages: list[str]) -> None:
    """Fail at config time when the mode lacks what it reads."""
    if cfg.mode == "icl" and "retrieve_similar" not in stages:
        raise ConfigError("predict mode icl needs the retrieve_similar stage before predict")
    if cfg.mode in ("hypotheses", "hypotheses_nn") and "hypothesize" not in stages:
        raise ConfigError(f"predict mode {cfg.mode} needs the hypothesize stage before predict")
    if cfg.mode == "hypotheses_nn" and not (cfg.nn_predictions or cfg.nn_column):
        raise ConfigError("predict mode hypotheses_nn needs predict.nn_predictions (a file) or predict.nn_column")
    if cfg.nn_predictions and not Path(cfg.nn_predictions).is_file():
        raise ConfigError(f"predict.nn_predictions: file not found: {cfg.nn_predictions}")


def nn_file_hash(cfg: PredictConfig) -> str | None:
    """The supervised predictions file's content hash: editing the file re-runs predict."""
    from pipelines.files import sha256_file

    if cfg.mode != "hypotheses_nn" or not cfg.nn_predictions or not Path(cfg.nn_predictions).is_file():
        return None
    return sha256_file(Path(cfg.nn_predictions))


def render_predict(item: Item, cfg: PredictConfig, ctx: StageContext, video_text: str | None = None) -> Messages:
    """The predict messages for ``item``; ``video_text`` replaces the item's own text (the
    content-free input of label scoring)."""
    task = get_task(cfg.task)
    summary = ctx.upstream["summarize"]
    assert isinstance(summary, SummaryRecord)
    measure, _ = token_counter(cfg.llm)
    text = fit_record_text(summary, cfg.text_tokens, measure) if video_text is None else video_text
    values: dict[str, Any] = {"video_text": text, "labels": task.label_descriptions}
    if cfg.mode == "icl":
        neighbours = ctx.upstream.get("retrieve_similar")
        if not isinstance(neighbours, NeighboursRecord):
            raise ConfigError("mode icl needs the retrieve_similar stage in the config")
        values["examples"] = [{"label": n.label, "text": fit_record_text(n, cfg.example_tokens, measure)}
                              for n in neighbours.neighbours[: cfg.icl_examples]]
    if cfg.mode in ("hypotheses", "hypotheses_nn"):
        hypotheses = ctx.upstream.get("hypothesize")
        if not isinstance(hypotheses, HypothesesRecord):
            raise ConfigError(f"mode {cfg.mode} needs the hypothesize stage in the config")
        values["hypotheses"] = [h.model_dump() for h in hypotheses.hypotheses]
    if cfg.mode == "hypotheses_nn":
        values["nn_label"], values["nn_confidence"] = supervised_prediction(item, cfg, task, ctx)
    return load_prompt(prompt_name(cfg)).messages(**values)


def untrusted_texts(cfg: PredictConfig, ctx: StageContext) -> list[str]:
    """Every text from videos that this mode puts into the prompt: the item's own, and the
    neighbours' (icl) or the hypotheses formed from them."""
    summary = ctx.upstream["summarize"]
    texts = [summary.text] if isinstance(summary, SummaryRecord) else []
    neighbours = ctx.upstream.get("retrieve_similar")
    if cfg.mode == "icl" and isinstance(neighbours, NeighboursRecord):
        texts += [n.text for n in neighbours.neighbours[: cfg.icl_examples]]
    hypotheses = ctx.upstream.get("hypothesize")
    if cfg.mode in ("hypotheses", "hypotheses_nn") and isinstance(hypotheses, HypothesesRecord):
        texts += [h.text for h in hypotheses.hypotheses]
    return texts


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def quotes_found(quotes: list[str], text: str) -> list[bool]:
    """Whether each quote occurs in ``text`` (case, punctuation and spacing ignored)."""
    haystack = _norm(text)
    return [bool(_norm(q)) and _norm(q) in haystack for q in quotes]


CONTENT_FREE = "N/A"



def score_labels(llm: Any, messages: Messages, content_free: Messages,
                 task: TaskSpec) -> tuple[str, float, dict[str, float], dict[str, float], dict[str, float]]:
    """The label by *contextual calibration* (Zhao et al., "Calibrate Before Use", ICML 2021).

    Each label is scored as the start of the answer's JSON, ``{"label": "<label>"``: its
    summed log-likelihood given the prompt (the shared ``{"label": "`` prefix subtracted).
    Raw likelihoods carry the model's prior over the label strings — length, frequency, the
    label named first in the prompt — which favours one class whatever the video. The same
    scores under a *content-free* input (the same prompt, the video's text replaced by
    ``"N/A"``) measure that prior; the calibrated score of a label is the difference,
    ``log P(label | video) - log P(label | N/A)``, i.e. each label's probability divided by
    its content-free probability (Zhao et al.'s diagonal calibration with a zero bias).
    The decision is the arg-max of the calibrated scores, and those are the scores stored.

    Returns:
        The label; its softmax share over the calibrated scores (a relative confidence, not
        a calibrated probability); the calibrated, raw and content-free scores per label.
    """
    prefix = '{"label": "'
    options = [f'{prefix}{label}"' for label in task.labels]

    def scored(msgs: Messages) -> dict[str, float]:
        scores = llm.score_labels(msgs, [prefix, *options])
        return {label: scores[option] - scores[prefix] for label, option in zip(task.labels, options)}

    raw, baseline = scored(messages), scored(content_free)
    calibrated = {label: round(raw[label] - baseline[label], 4) for label in task.labels}
    best = max(task.labels, key=lambda label: calibrated[label])  # ties: the first label, a fixed order
    total = sum(math.exp(v - calibrated[best]) for v in calibrated.values())
    rounded = {k: round(v, 4) for k, v in raw.items()}, {k: round(v, 4) for k, v in baseline.items()}
    return best, round(1.0 / total, 4), calibrated, *rounded


def answer_schema(task: TaskSpec, n_hypotheses: int = 0) -> dict[str, Any]:
    """JSON schema of the answer, for backends that constrain decoding (local, llama.cpp).

    With ``n_hypotheses`` > 0 (the hypotheses modes), the answer must cite at least one of
    the hypotheses by a number that exists. Strings and arrays are bounded, so that a model
    that repeats itself still closes the JSON within its token budget.
    """
    properties: dict[str, Any] = {
        "label": {"type": "string", "enum": list(task.labels)},
        # a task without a finer scale has no such field (an empty enum is an error to grammars)
        **({"scale": {"type": "integer", "enum": sorted(task.scale)}} if task.scale else {}),
        # confidence in the chosen label: never below chance (1 / number of labels)
        "confidence": {"type": "number", "minimum": round(1 / len(task.labels), 3), "maximum": 1},
        "explanation": {"type": "string", "maxLength": 300},
        "evidence": {"type": "array", "items": {"type": "string", "maxLength": 120}, "maxItems": 2},
    }
    required = ["label", "confidence", "explanation"]
    if n_hypotheses:
        properties["hypotheses_used"] = {"type": "array", "items": {"type": "integer",
                                                                    "enum": list(range(1, n_hypotheses + 1))},
                                         "minItems": 1, "maxItems": n_hypotheses}
        properties["evidence"] = {**properties["evidence"], "minItems": 1}
        required += ["hypotheses_used", "evidence"]
        # Reason before the verdict: quotes of this video first (the explanation then starts
        # from its own text, not from the hypotheses' wording), the hypotheses they match,
        # the explanation, and only then the label. With the label first, the bundled 0.5B
        # model wrote explanations that restated a hypothesis as if the video showed it.
        properties = {k: properties[k] for k in ("evidence", "hypotheses_used", "explanation", "label", "scale",
                                                 "confidence") if k in properties}
    return {"type": "object", "properties": properties, "required": required}


def repair_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The answer's schema for an explanation repair: the same, except that citing no hypothesis
    is allowed, since the contradicted claim is often a hypothesis said of a video it does not
    fit, and an answer forced to cite one tends to restate it."""
    cited = schema.get("properties", {}).get("hypotheses_used")
    if not cited or "minItems" not in cited:
        return schema
    loose = {k: v for k, v in cited.items() if k != "minItems"}
    return {**schema, "properties": {**schema["properties"], "hypotheses_used": loose}}


def _request(item: Item, cfg: PredictConfig, ctx: StageContext) -> tuple[Messages, dict[str, Any], int]:
    """The messages, the answer's JSON schema and the number of hypotheses it may cite."""
    hypotheses = ctx.upstream.get("hypothesize")
    n_hypotheses = len(hypotheses.hypotheses) if cfg.mode in ("hypotheses", "hypotheses_nn") and isinstance(
        hypotheses, HypothesesRecord) else 0
    return render_predict(item, cfg, ctx), answer_schema(get_task(cfg.task), n_hypotheses), n_hypotheses


def print_predictions(result: Any, cfg: Any, console: Any) -> None:
    """``m2t run``'s summary of the predictions: each with its explanation, then accuracy
    against the gold labels, how the answers were read, the explanations' own check and the
    hypotheses' counts."""
    from rich.table import Table

    predictions = result.records.get("predict", {})
    if not predictions:
        return
    from pipelines.tasks import get_task

    task = get_task(cfg.task)
    items = {i.item_id: i for i in result.items}
    table = Table(title="predictions", title_justify="left")
    # grounded: the explanation names something of the video's own text; quotes: evidence
    # quotes found in it; cites: answers citing an existing hypothesis
    for col in ("item", "gold", "predicted", "conf.", "via", "explanation"):
        table.add_column(col)
    correct = total = 0
    paths: dict[str, int] = {}
    for item_id, rec in predictions.items():
        gold = task.gold(items[item_id].labels) if item_id in items else None
        if gold is not None:
            total += 1
            correct += rec.label == gold
        paths[rec.extraction] = paths.get(rec.extraction, 0) + 1
        mark = "" if gold is None else ("[green]✓[/]" if rec.label == gold else "[red]✗[/]")
        conf = "-" if rec.confidence is None else f"{rec.confidence:.2f}"
        flag = " [yellow](possible injection)[/]" if rec.possible_injection else ""
        table.add_row(item_id, gold or "-", f"{rec.label} {mark}", conf, rec.extraction,
                      excerpt(rec.explanation or ("(label chosen by scoring)" if rec.extraction == "label_scores"
                                                   else "(no explanation)"), 70) + flag)
    console.print(table)
    if total:
        mode = next(iter(predictions.values())).mode
        acc = Table(title=f"accuracy ({cfg.dataset.labels_note})" if cfg.dataset.labels_note else "accuracy",
                    title_justify="left")
        for col in ("mode", "items", "correct", "accuracy", "grounded", "quotes", "cites"):
            acc.add_column(col)
        records = list(predictions.values())
        explained = [r for r in records if r.grounded is not None]
        quotes = [found for r in records for found in r.evidence_found]
        citing = sum(bool(r.cited_hypotheses) for r in records)
        acc.add_row(mode, str(total), str(correct), f"{correct / total:.1%}",
                    f"{sum(r.grounded for r in explained)}/{len(explained)}",
                    f"{sum(quotes)}/{len(quotes)}",
                    f"{citing}/{len(records)}" if mode.startswith("hypotheses") else "-")
        console.print(acc)
        console.print("answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(paths.items())), highlight=False)
    from pipelines.audit.explanation import summary_line

    checked = summary_line(predictions.values())
    if checked:
        console.print(checked, highlight=False, soft_wrap=True)
    hypotheses = result.records.get("hypothesize", {})
    if hypotheses:
        kept = sum(len(h.hypotheses) for h in hypotheses.values())
        dropped = sum(len(h.degenerate) for h in hypotheses.values())
        console.print(f"hypotheses: {kept} usable, {dropped} degenerate (recorded apart, not shown to predict), "
                  f"{sum(h.repaired for h in hypotheses.values())} of {len(hypotheses)} answers repaired once",
                  highlight=False)


@stage("predict", version=8,  # 8: the audit's typing knows every cue its checkers know (7: explanations checked by the audit's rules, contradicted ones sent back)
       config=PredictConfig, record=PredictionRecord, needs=("summarize",),
       uses=("retrieve_similar", "hypothesize", *(s for s in EVIDENCE_STAGES if s != "summarize")),
       item_parts=("metadata",), prompts=prompt_names,
       check=lambda cfg, stages: check_predict(cfg, stages), extra_key=lambda cfg: nn_file_hash(cfg),
       applies=lambda item, cfg: cfg.splits is None or item.split in cfg.splits, render=render_predict, batched=True, summary=print_predictions)
def predict(items: list[Item], cfg: PredictConfig, ctxs: list[StageContext]) -> list[PredictionRecord | Exception]:
    """First answers of the whole batch in one request list (``CachedLLM.answer_all``: each
    answered alone, remote ones in flight together), then each item's reading, repair and
    fallback, then the explanations' check and their repairs (one request list a round)."""
    requests: list[tuple[Messages, dict[str, Any], int] | Exception] = []
    for item, ctx in zip(items, ctxs):
        try:
            requests.append(_request(item, cfg, ctx))
        except Exception as exc:  # one item's failure must never stop the batch
            requests.append(exc)
    ready = [i for i, r in enumerate(requests) if not isinstance(r, Exception)]
    llm = ctxs[0].llm(cfg.llm) if ctxs else None
    # one request list (in flight together on a remote backend); a failed request fails only its item
    replies: list[str | Exception] = list(llm.answer_all([requests[i][:2] for i in ready])) if ready else []
    out: list[PredictionRecord | Exception] = [r if isinstance(r, Exception) else RuntimeError("not answered")
                                               for r in requests]
    for i, reply in zip(ready, replies):
        if isinstance(reply, Exception):
            out[i] = reply
            continue
        try:
            out[i] = _answer(items[i], cfg, ctxs[i], requests[i], reply)
        except Exception as exc:
            out[i] = exc
    if cfg.check_explanation and llm is not None:
        _check_explanations(items, cfg, ctxs, requests, out, llm)
    return out


def _answer(item: Item, cfg: PredictConfig, ctx: StageContext, request: tuple[Messages, dict[str, Any], int],
            reply: str) -> PredictionRecord:
    """The record of one item from the model's first reply (repair and fallback included)."""
    task = get_task(cfg.task)
    messages, schema, n_hypotheses = request
    summary = ctx.upstream["summarize"]
    assert isinstance(summary, SummaryRecord)
    llm = ctx.llm(cfg.llm)
    prompt = load_prompt(prompt_name(cfg))
    provenance = {**ctx.provenance, "model": cfg.llm.model, "prompt_id": prompt.id, "prompt_version": prompt.version}
    signals = injection_signals("\n".join([item.title, item.description, *untrusted_texts(cfg, ctx)]),
                                [task.injection_pattern()])
    answer: PredictionAnswer | None = None
    extraction = "json"
    try:
        answer = parse_prediction(reply, task)
    except AnswerError as first:
        repair = load_prompt(task_prompt(cfg.task, "repair_predict")).render(
            error=str(first), labels=list(task.labels), scale=sorted(task.scale))
        second_reply = llm.complete([*messages, ("assistant", reply), ("user", repair)], schema)
        try:
            answer, extraction, reply = parse_prediction(second_reply, task), "repair", second_reply
        except AnswerError as second:
            if not llm.can_score:
                raise AnswerError(f"no valid answer after one repair ({second}); first answer: {first}; "
                                  f"last reply: {quoted_reply(second_reply)}") from None
            content_free = render_predict(item, cfg, ctx, video_text=CONTENT_FREE)
            label, confidence, scores, raw_scores, prior = score_labels(llm, messages, content_free, task)
            return PredictionRecord(**provenance, mode=cfg.mode, label=label, confidence=confidence,
                                    extraction="label_scores", label_scores=scores, label_scores_raw=raw_scores,
                                    label_scores_content_free=prior, raw=second_reply,
                                    possible_injection=bool(signals), injection_signals=signals)
    return PredictionRecord(**provenance, mode=cfg.mode, **_answer_fields(answer, task, summary, n_hypotheses),
                            extraction=extraction + ("+partial" if answer.partial else ""), raw=reply,
                            possible_injection=bool(signals), injection_signals=signals)


def _answer_fields(answer: PredictionAnswer, task: TaskSpec, summary: SummaryRecord, n_hypotheses: int
                   ) -> dict[str, Any]:
    """The record's fields that come from one answer (the first, or a repair that replaces it)."""
    scale = answer.scale if answer.scale in task.scale and task.scale[answer.scale] == answer.label else None
    return dict(label=answer.label, scale=scale, confidence=answer.confidence, explanation=answer.explanation,
                evidence=answer.evidence,
                cited_hypotheses=[n for n in answer.hypotheses_used if 1 <= n <= n_hypotheses],
                cited_unknown=[n for n in answer.hypotheses_used if not 1 <= n <= n_hypotheses],
                grounded=grounded(answer.explanation, summary.text, task),
                evidence_found=quotes_found(answer.evidence, summary.text))


def _version(record: PredictionRecord, check: ExplanationCheck) -> PredictionVersion:
    return PredictionVersion(label=record.label, scale=record.scale, confidence=record.confidence,
                             explanation=record.explanation, evidence=record.evidence,
                             cited_hypotheses=record.cited_hypotheses, raw=record.raw, check=check)


def _checked(record: PredictionRecord, check: ExplanationCheck) -> PredictionRecord:
    return record.model_copy(update={"explanation_check": check, "verifiable_share": check.verifiable_share,
                                     "explanation_flagged": bool(check.flagged)})


def _check_explanations(items: list[Item], cfg: PredictConfig, ctxs: list[StageContext],
                        requests: list[tuple[Messages, dict[str, Any], int] | Exception],
                        out: list[PredictionRecord | Exception], llm: Any) -> None:
    """Check, in place, each answered item's explanation against its video's evidence, and send
    the flagged ones back with their claims named: one request list per round (in flight
    together on a remote backend), at most ``cfg.max_repairs`` rounds. A failed repair request
    or an unusable reply leaves the answer it was about, recorded with the reason."""
    from pipelines.audit.checks import video_evidence
    from pipelines.audit.explanation import check_explanation, named_claims

    task = get_task(cfg.task)
    evidence: dict[int, Any] = {}
    for i, record in enumerate(out):
        if isinstance(record, PredictionRecord) and record.explanation.strip():
            # the fields that define the label stay out of the evidence, so no reason can carry them to the model
            evidence[i] = video_evidence(items[i], ctxs[i].upstream, cfg.task, hide=task.defines_label)
            try:
                out[i] = _checked(record, check_explanation(record.explanation, evidence[i]))
            except Exception as exc:  # one item's failure must never stop the batch
                out[i] = exc
    repair = load_prompt(task_prompt(cfg.task, "repair_explanation")) if cfg.max_repairs else None
    for _ in range(cfg.max_repairs):
        pending = {i: r for i in evidence if isinstance(r := out[i], PredictionRecord) and _sent_back(r)}
        if not pending or repair is None:
            return
        asked = []
        for i, record in pending.items():
            messages, schema, _ = requests[i]  # type: ignore[misc]  # answered items had a request
            assert record.explanation_check is not None
            text = repair.render(claims=named_claims(record.explanation_check), labels=list(task.labels))
            # the first request again with the claims named, not a reply to the flagged answer: given their own
            # answer as the last turn, the demo's 0.5B and 1.5B models repeated it word for word
            asked.append(([*messages, ("user", text)], repair_schema(schema)))
        for (i, record), reply in zip(pending.items(), llm.answer_all(asked)):
            try:
                out[i] = _repaired(record, reply, task, ctxs[i], requests[i][2], evidence[i])  # type: ignore[index]
            except Exception as exc:
                out[i] = exc


def _sent_back(record: PredictionRecord) -> bool:
    """Whether the explanation goes back (again): it is flagged, and no repair of it was refused
    already (the same request would get the same reply)."""
    return record.explanation_flagged and (not record.repairs or record.repairs[-1].kept)


def _repaired(record: PredictionRecord, reply: str | Exception, task: TaskSpec, ctx: StageContext,
              n_hypotheses: int, evidence: Any) -> PredictionRecord:
    """``record`` after one explanation repair: the repaired answer when it is usable and has no
    more contradicted or unsupported claims than the one sent back, else ``record`` as it was;
    either way with the repair recorded and, on the first repair, the first answer kept whole."""
    from pipelines.audit.explanation import check_explanation

    assert record.explanation_check is not None
    before = record.explanation_check
    named = [c.text for c in before.flagged]
    first = record.first_answer or _version(record, before)
    if isinstance(reply, Exception):
        attempt = ExplanationRepair(named=named, error=f"{type(reply).__name__}: {reply}")
        return record.model_copy(update={"first_answer": first, "repairs": [*record.repairs, attempt]})
    try:
        answer = parse_prediction(reply, task)
        if not answer.explanation.strip():  # an answer that explains nothing cannot pass the check by that
            raise AnswerError("the answer has no explanation")
    except AnswerError as exc:
        attempt = ExplanationRepair(named=named, raw=reply, error=f"no valid answer: {exc}")
        return record.model_copy(update={"first_answer": first, "repairs": [*record.repairs, attempt]})
    summary = ctx.upstream["summarize"]
    assert isinstance(summary, SummaryRecord)
    fields = _answer_fields(answer, task, summary, n_hypotheses)
    check = check_explanation(answer.explanation, evidence)
    candidate = record.model_copy(update={**fields, "raw": reply,
                                          "extraction": "json" + ("+partial" if answer.partial else "")})
    kept = len(check.flagged) <= len(before.flagged)
    attempt = ExplanationRepair(named=named, raw=reply, answer=_version(candidate, check), kept=kept)
    base = _checked(candidate, check) if kept else record
    return base.model_copy(update={"first_answer": first, "repairs": [*record.repairs, attempt]})
