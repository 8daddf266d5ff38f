"""hypothesize: numbered hypotheses formed by the LLM from an item's labelled neighbours.

The prompt depends only on the neighbour *set* (texts and labels, in id order — not on the
query item nor on the similarity order), so items with the same neighbours share one cached
LLM call.
"""

from __future__ import annotations

from pydantic import Field

from pipelines.budget import fit_record_text, token_counter
from pipelines.errors import LLMError
from pipelines.models.llm import LLMConfig, Messages
from pipelines.models.structured import AnswerError, parse_hypotheses, sentences
from pipelines.records import HypothesesRecord, Hypothesis, Item, NeighboursRecord
from pipelines.stages.registry import StageConfig, StageContext, stage
from pipelines.tasks import get_task

def answer_schema(n_hypotheses: int) -> dict:
    """JSON schema of the answer, for backends that constrain decoding; bounded, so that a
    model that repeats itself still closes the JSON within its token budget."""
    return {"type": "object",
            "properties": {"hypotheses": {"type": "array", "items": {"type": "string", "maxLength": 240},
                                          "minItems": 1, "maxItems": n_hypotheses}},
            "required": ["hypotheses"]}


class HypothesizeConfig(StageConfig):
    task: str = "popularity"
    llm: LLMConfig = Field(default_factory=LLMConfig)
    prompt: str = Field("popularity/hypothesize", description="prompt file")
    n_hypotheses: int = Field(5, ge=1, le=20)
    splits: list[str] | None = Field(["test"], description="items that get hypotheses (null: all)")
    example_tokens: int = Field(200, ge=20, description="each neighbour's text is fitted into this many tokens of the "
                                                         "LLM (every section keeps a share; pipelines/budget.py)")


def render_hypothesize(item: Item, cfg: HypothesizeConfig, ctx: StageContext) -> Messages:
    from pipelines.prompts import load_prompt

    neighbours = ctx.inputs["retrieve_similar"]
    assert isinstance(neighbours, NeighboursRecord)
    if not neighbours.neighbours:
        raise LLMError("no labelled neighbours were retrieved (is the train split empty?)")
    ordered = sorted(neighbours.neighbours, key=lambda n: n.item_id)
    measure, _ = token_counter(cfg.llm)
    examples = [{"label": n.label, "text": fit_record_text(n, cfg.example_tokens, measure)} for n in ordered]
    return load_prompt(cfg.prompt).messages(labels=get_task(cfg.task).label_descriptions, examples=examples,
                                            n_hypotheses=cfg.n_hypotheses)


@stage("hypothesize", version=2, config=HypothesizeConfig, record=HypothesesRecord, needs=("retrieve_similar",),
       reads=(), prompts=lambda cfg: [cfg.prompt, f"{cfg.task}/repair_hypothesize"],
       applies=lambda item, cfg: cfg.splits is None or item.split in cfg.splits, render=render_hypothesize)
def hypothesize(item: Item, cfg: HypothesizeConfig, ctx: StageContext) -> HypothesesRecord:
    from pipelines.prompts import load_prompt

    messages = render_hypothesize(item, cfg, ctx)
    llm = ctx.llm(cfg.llm)
    schema = answer_schema(cfg.n_hypotheses)
    reply = first_reply = llm.complete(messages, schema)
    extraction = ""
    try:
        texts, extraction = parse_hypotheses(reply)
    except AnswerError as first:
        repair = load_prompt(f"{cfg.task}/repair_hypothesize").render(error=str(first))
        reply = llm.complete([*messages, ("assistant", reply), ("user", repair)], schema)
        try:
            texts, how = parse_hypotheses(reply)
            extraction = f"repair+{how}"
        except AnswerError as second:
            texts = sentences(reply) or sentences(first_reply)
            if not texts:
                raise AnswerError(f"no hypotheses after one repair: {second}") from None
            extraction = "sentences"
    prompt = load_prompt(cfg.prompt)
    neighbours = ctx.inputs["retrieve_similar"]
    assert isinstance(neighbours, NeighboursRecord)
    return HypothesesRecord(
        **{**ctx.provenance, "model": cfg.llm.model, "prompt_id": prompt.id, "prompt_version": prompt.version},
        hypotheses=[Hypothesis(number=i + 1, text=t) for i, t in enumerate(texts[: cfg.n_hypotheses])],
        neighbour_ids=[n.item_id for n in neighbours.neighbours],
        extraction=extraction, raw=reply,
    )
