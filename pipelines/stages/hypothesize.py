"""hypothesize: structured hypotheses formed by the LLM from an item's labelled neighbours.

Each hypothesis is ``{statement, favours: <label>, based_on: [example numbers]}`` (the
neighbours are numbered in the prompt; the record stores their ids). A hypothesis that only
restates a class, duplicates another, cites no example or names a property none of its
examples shows is *degenerate*
(``pipelines/hypotheses.py``): the answer is sent back once with the problems named, and what
is still degenerate after that is recorded apart (``degenerate``), never shown to predict.

The prompt depends only on the neighbour *set* (texts and labels, in id order — not on the
query item nor on the similarity order), so items with the same neighbours share one cached
LLM call.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pipelines.budget import fit_record_text, token_counter
from pipelines.errors import LLMError
from pipelines.hypotheses import hypothesis_problems
from pipelines.models.llm import LLMConfig, Messages
from pipelines.models.structured import AnswerError, json_objects, parse_hypotheses, quoted_reply, sentences
from pipelines.records import HypothesesRecord, Hypothesis, Item, NeighboursRecord
from pipelines.stages.registry import StageConfig, StageContext, stage
from pipelines.tasks import TaskSpec, get_task


STATEMENT_PATTERN = r"^Videos (that|with|about|showing|featuring|where|of|in) [^\"\\]{20,220}$"


def answer_schema(task: TaskSpec, n_hypotheses: int, n_examples: int) -> dict[str, Any]:
    """JSON schema of the answer, for backends that constrain decoding; bounded, so that a
    model that repeats itself still closes the JSON within its token budget."""
    item = {"type": "object",
            # a statement about a property of videos ("Videos that ..."), not about "the video"
            "properties": {"statement": {"type": "string", "pattern": STATEMENT_PATTERN},
                           "favours": {"type": "string", "enum": list(task.labels)},
                           "based_on": {"type": "array", "items": {"type": "integer",
                                                                   "enum": list(range(1, n_examples + 1))},
                                        "minItems": 1, "maxItems": n_examples}},
            "required": ["statement", "favours", "based_on"]}
    return {"type": "object",
            "properties": {"hypotheses": {"type": "array", "items": item, "minItems": n_hypotheses,
                                          "maxItems": n_hypotheses}},
            "required": ["hypotheses"]}


def read_answer(text: str) -> tuple[list[dict[str, Any]], str]:
    """The hypotheses of an answer as dicts (``statement``, ``favours``, ``based_on``), and how
    they were read; plain strings (an older or free-form answer) become statements citing nothing."""
    for obj in reversed(json_objects(text)):
        items = obj.get("hypotheses")
        if isinstance(items, list) and items and all(isinstance(h, dict) for h in items):
            found = [h for h in items if str(h.get("statement") or h.get("text") or "").strip()]
            if found:
                return found, "json"
    texts, how = parse_hypotheses(text)  # raises AnswerError when nothing is there
    return [{"statement": t} for t in texts], how


def judge(found: list[dict[str, Any]], task: TaskSpec, example_ids: list[str], limit: int,
          example_texts: dict[str, str] | None = None) -> tuple[list[Hypothesis], list[Hypothesis]]:
    """Usable and degenerate hypotheses, in answer order (usable ones numbered 1..n)."""
    usable: list[Hypothesis] = []
    degenerate: list[Hypothesis] = []
    for raw in found[:limit]:
        statement = " ".join(str(raw.get("statement") or raw.get("text") or "").split())
        favours = task.normalise_label(raw.get("favours"))
        cited = raw.get("based_on") or []
        cited = cited if isinstance(cited, list) else [cited]
        ids = []
        for ref in cited:
            index = int(ref) - 1 if str(ref).strip().isdigit() else -1
            if 0 <= index < len(example_ids) and example_ids[index] not in ids:
                ids.append(example_ids[index])
        texts = None if example_texts is None else [example_texts[i] for i in ids]
        problems = hypothesis_problems(statement, favours, ids, task, [(h.number, h.text) for h in usable], texts)
        hypothesis = Hypothesis(number=len(usable) + 1 if not problems else len(degenerate) + 1, text=statement,
                                favours=favours, based_on=ids, problems=problems)
        (degenerate if problems else usable).append(hypothesis)
    return usable, degenerate


def describe_problems(degenerate: list[Hypothesis], found: int, wanted: int) -> str:
    parts = [f"the hypothesis \"{h.text[:80]}\" {' and '.join(h.problems)}" for h in degenerate]
    if found < wanted:
        parts.append(f"{wanted} hypotheses were asked for, {found} given")
    return "; ".join(parts)


class HypothesizeConfig(StageConfig):
    task: str = "popularity"
    llm: LLMConfig = Field(default_factory=LLMConfig)
    prompt: str = Field("popularity/hypothesize", description="prompt file")
    n_hypotheses: int = Field(5, ge=1, le=20)
    splits: list[str] | None = Field(["test"], description="items that get hypotheses (null: all)")
    example_tokens: int = Field(200, ge=20, description="each neighbour's text is fitted into this many tokens of the "
                                                         "LLM (every section keeps a share; pipelines/budget.py)")


def _ordered(ctx: StageContext) -> list[Any]:
    neighbours = ctx.inputs["retrieve_similar"]
    assert isinstance(neighbours, NeighboursRecord)
    if not neighbours.neighbours:
        raise LLMError("no labelled neighbours were retrieved (is the train split empty?)")
    return sorted(neighbours.neighbours, key=lambda n: n.item_id)


def render_hypothesize(item: Item, cfg: HypothesizeConfig, ctx: StageContext) -> Messages:
    from pipelines.prompts import load_prompt

    measure, _ = token_counter(cfg.llm)
    examples = [{"label": n.label, "text": fit_record_text(n, cfg.example_tokens, measure)} for n in _ordered(ctx)]
    return load_prompt(cfg.prompt).messages(labels=get_task(cfg.task).label_descriptions, examples=examples,
                                            n_hypotheses=cfg.n_hypotheses)


@stage("hypothesize", version=5, config=HypothesizeConfig, record=HypothesesRecord, needs=("retrieve_similar",),
       reads=(), prompts=lambda cfg: [cfg.prompt, f"{cfg.task}/repair_hypothesize"],
       applies=lambda item, cfg: cfg.splits is None or item.split in cfg.splits, render=render_hypothesize)
def hypothesize(item: Item, cfg: HypothesizeConfig, ctx: StageContext) -> HypothesesRecord:
    from pipelines.prompts import load_prompt

    task = get_task(cfg.task)
    example_ids = [n.item_id for n in _ordered(ctx)]
    texts = {n.item_id: n.text for n in _ordered(ctx)}
    messages = render_hypothesize(item, cfg, ctx)
    llm = ctx.llm(cfg.llm)
    schema = answer_schema(task, cfg.n_hypotheses, len(example_ids))
    reply = llm.complete(messages, schema)
    try:
        found, extraction = read_answer(reply)
        usable, degenerate = judge(found, task, example_ids, cfg.n_hypotheses, texts)
        problem = describe_problems(degenerate, len(found), cfg.n_hypotheses) if degenerate else ""
    except AnswerError as first:
        found, extraction, usable, degenerate, problem = [], "", [], [], str(first)
    repaired = bool(problem)
    if repaired:  # one repair request that names what was wrong
        repair = load_prompt(f"{cfg.task}/repair_hypothesize").render(error=problem)
        second = llm.complete([*messages, ("assistant", reply), ("user", repair)], schema)
        try:
            found2, how = read_answer(second)
            usable2, degenerate2 = judge(found2, task, example_ids, cfg.n_hypotheses, texts)
            if len(usable2) >= len(usable):
                usable, degenerate, extraction, reply = usable2, degenerate2, f"repair+{how}", second
        except AnswerError as exc:
            if not found:
                sentences_found = sentences(second) or sentences(reply)
                if not sentences_found:
                    raise AnswerError(f"no hypotheses after one repair: {exc}; last reply: {quoted_reply(second)}") from None
                usable, degenerate = judge([{"statement": t} for t in sentences_found], task, example_ids,
                                           cfg.n_hypotheses, texts)
                extraction = "sentences"
    prompt = load_prompt(cfg.prompt)
    return HypothesesRecord(
        **{**ctx.provenance, "model": cfg.llm.model, "prompt_id": prompt.id, "prompt_version": prompt.version},
        hypotheses=usable, degenerate=degenerate, neighbour_ids=example_ids, extraction=extraction,
        repaired=repaired, raw=reply,
    )
