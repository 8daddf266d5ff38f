"""hypothesize: hypotheses formed by the LLM from an item's labelled neighbours.

A hypothesis is ``{statement, favours: <label>, based_on: [neighbour ids]}``. The model is
asked one question per hypothesis, a question a small model answers well: *what do these
examples (the neighbours of one class) have in common?*, on one aspect a round (topic; speech
and on-screen text; look and sound — the aspects are the prompt's). Its answer is
``{"statement": "Videos that ...", "based_on": [example numbers]}``; the class it favours is
the class of the examples it was shown. Asked for all hypotheses in one JSON list, the
bundled 0.5B model copied one example's title into every hypothesis (3 usable of 15 on the
demo); asked this way it names what the examples share (9 usable of 15, every item with at
least one).

Which class each question is about (:func:`plan`): the classes among the neighbours take
turns, the most frequent first; a tie is broken by a hash of the neighbour set and the label,
so no class is always first. A hypothesis that only restates a class, duplicates an earlier
one, cites no example or names a property none of its examples shows is *degenerate*
(``pipelines/hypotheses.py``): that question is asked again once with the problems named,
and what is still degenerate is recorded apart (``degenerate``), never shown to predict.

Each question depends only on the examples it shows (texts, labels, their numbers in id
order) and the round, not on the query item, so items with the same neighbours share cached
LLM calls.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from pydantic import Field

from pipelines.budget import fit_record_text, token_counter
from pipelines.errors import LLMError
from pipelines.hypotheses import hypothesis_problems
from pipelines.models.llm import LLMConfig, Messages
from pipelines.models.structured import AnswerError, json_objects, parse_hypotheses, quoted_reply, sentences
from pipelines.prompts import task_prompt
from pipelines.records import HypothesesRecord, Hypothesis, Item, Neighbour, NeighboursRecord
from pipelines.stages.registry import StageConfig, StageContext, stage
from pipelines.tasks import TaskSpec, get_task

STATEMENT_PATTERN = r"^Videos (that|with|about|showing|featuring|where|of|in) [^\"\\]{15,200}$"


def answer_schema(numbers: list[int]) -> dict[str, Any]:
    """JSON schema of one answer, for backends that constrain decoding: a statement about a
    property of videos ("Videos that ...", bounded, so that a model that repeats itself still
    closes the JSON) and the numbers of the shown examples it rests on."""
    return {"type": "object",
            "properties": {"statement": {"type": "string", "pattern": STATEMENT_PATTERN},
                           "based_on": {"type": "array", "items": {"type": "integer", "enum": list(numbers)},
                                        "minItems": 1, "maxItems": len(numbers)}},
            "required": ["statement", "based_on"]}


def plan(neighbours: list[Neighbour], n_hypotheses: int) -> list[tuple[str, int]]:
    """``(label, round)`` of each question: the neighbours' classes in turn, most frequent
    first (ties by a hash of the neighbour set and label: no class is favoured by its name)."""
    counts = Counter(n.label for n in neighbours if n.label is not None)
    if not counts:
        raise LLMError("the retrieved neighbours carry no labels")
    key = ",".join(sorted(n.item_id for n in neighbours))
    order = sorted(counts, key=lambda label: (-counts[label], hashlib.sha256(f"{key}|{label}".encode()).hexdigest()))
    return [(order[k % len(order)], k // len(order)) for k in range(n_hypotheses)]


def read_answer(text: str) -> tuple[dict[str, Any], str]:
    """The hypothesis of an answer (``statement``, ``based_on``) and how it was read: the last
    JSON object with a statement (a ``{"hypotheses": [...]}`` list gives its first), else the
    first numbered line or sentence (citing nothing)."""
    for obj in reversed(json_objects(text)):
        listed = obj.get("hypotheses")
        if isinstance(listed, list) and listed and isinstance(listed[0], dict):
            obj = listed[0]
        if str(obj.get("statement") or obj.get("text") or "").strip():
            return obj, "json"
    try:
        texts, how = parse_hypotheses(text)
    except AnswerError:
        texts, how = sentences(text), "sentences"
        if not texts:
            raise AnswerError(f"no hypothesis in the answer; last reply: {quoted_reply(text)}") from None
    return {"statement": texts[0]}, how


def judge(raw: dict[str, Any], label: str, numbers: dict[int, Neighbour], task: TaskSpec,
          usable: list[Hypothesis]) -> Hypothesis:
    """The answer as a hypothesis favouring ``label``; its ``problems`` empty if usable.
    ``numbers`` maps the example numbers the question showed to their neighbours."""
    statement = " ".join(str(raw.get("statement") or raw.get("text") or "").split())
    cited = raw.get("based_on") or []
    ids: list[str] = []
    for ref in cited if isinstance(cited, list) else [cited]:
        number = int(ref) if str(ref).strip().isdigit() else -1
        if number in numbers and numbers[number].item_id not in ids:
            ids.append(numbers[number].item_id)
    texts = [n.text for n in numbers.values() if n.item_id in ids]
    problems = hypothesis_problems(statement, label, ids, task, [(h.number, h.text) for h in usable], texts)
    return Hypothesis(number=0, text=statement, favours=label, based_on=ids, problems=problems)


def describe_problems(hypothesis: Hypothesis, usable: list[Hypothesis]) -> str:
    """What the repair request says is wrong ("" when nothing is); a duplicate quotes the
    hypothesis it repeats."""
    if not hypothesis.problems:
        return ""
    parts = []
    for problem in hypothesis.problems:
        if problem.startswith("duplicates hypothesis "):
            problem += f' ("{usable[int(problem.rsplit(" ", 1)[1]) - 1].text}")'
        parts.append(problem)
    return f'the hypothesis "{hypothesis.text[:120]}" ' + " and ".join(parts)


class HypothesizeConfig(StageConfig):
    task: str = Field(description="the case study's task (filled in from the config's task:)")
    llm: LLMConfig = Field(default_factory=LLMConfig)
    prompt: str | None = Field(None, description="prompt file (<folder>/<name>); default <task>/hypothesize")
    n_hypotheses: int = Field(5, ge=1, le=20)
    splits: list[str] | None = Field(["test"], description="items that get hypotheses (null: all)")
    example_tokens: int = Field(120, ge=20, description="each neighbour's text is fitted into this many tokens of the "
                                                         "LLM (every section keeps a share; pipelines/budget.py)")


def prompt_name(cfg: HypothesizeConfig) -> str:
    return cfg.prompt or f"{cfg.task}/hypothesize"


def _ordered(ctx: StageContext) -> list[Neighbour]:
    neighbours = ctx.upstream["retrieve_similar"]
    assert isinstance(neighbours, NeighboursRecord)
    if not neighbours.neighbours:
        raise LLMError("no labelled neighbours were retrieved (is the train split empty?)")
    return sorted(neighbours.neighbours, key=lambda n: n.item_id)


def _questions(cfg: HypothesizeConfig, ctx: StageContext) -> list[tuple[str, dict[int, Neighbour], Messages]]:
    """``(label, {example number: neighbour}, messages)`` of each question, in plan order."""
    from pipelines.prompts import load_prompt

    measure, _ = token_counter(cfg.llm)
    neighbours = _ordered(ctx)
    prompt = load_prompt(prompt_name(cfg))
    out = []
    for label, round_ in plan(neighbours, cfg.n_hypotheses):
        shown = {i: n for i, n in enumerate(neighbours, 1) if n.label == label}
        examples = [{"number": i, "text": fit_record_text(n, cfg.example_tokens, measure)} for i, n in shown.items()]
        out.append((label, shown, prompt.messages(label=label, examples=examples, round=round_)))
    return out


def render_hypothesize(item: Item, cfg: HypothesizeConfig, ctx: StageContext) -> Messages:
    """The messages of every question, one after the other (``m2t render`` prints them)."""
    return [message for _, _, messages in _questions(cfg, ctx) for message in messages]


def _read_and_judge(reply: str, label: str, shown: dict[int, Neighbour], task: TaskSpec,
                    usable: list[Hypothesis]) -> tuple[Hypothesis | None, str, str]:
    """The reply's hypothesis (``None`` if there is none), how it was read, and what a
    repair request should say is wrong ("" when it is usable)."""
    try:
        raw, how = read_answer(reply)
    except AnswerError as exc:
        return None, "", str(exc)
    hypothesis = judge(raw, label, shown, task, usable)
    return hypothesis, how, describe_problems(hypothesis, usable)


@stage("hypothesize", version=7,  # 7: Snowball stems in the degenerate-hypothesis rules
        config=HypothesizeConfig, record=HypothesesRecord, needs=("retrieve_similar",),
       item_parts=(), prompts=lambda cfg: [prompt_name(cfg), task_prompt(cfg.task, "repair_hypothesize")],
       applies=lambda item, cfg: cfg.splits is None or item.split in cfg.splits, render=render_hypothesize,
       batched=True)
def hypothesize(items: list[Item], cfg: HypothesizeConfig, ctxs: list[StageContext]) -> list[HypothesesRecord | Exception]:
    """Asks every question of the batch's items in one request list (in flight together on a
    remote backend; each answered alone), judges each item's answers in plan order, asks the
    degenerate ones again once (again together), and numbers each item's usable hypotheses in
    the order they were accepted (the numbers "duplicates hypothesis N" refers to). A failed
    request fails only its item."""
    llm = ctxs[0].llm(cfg.llm) if ctxs else None
    questions: list[list[tuple[str, dict[int, Neighbour], Messages]] | Exception] = []
    for ctx in ctxs:
        try:
            questions.append(_questions(cfg, ctx))
        except Exception as exc:  # one item's failure must never stop the batch
            questions.append(exc)
    asked = [(i, q) for i, qs in enumerate(questions) if not isinstance(qs, Exception) for q in qs]
    schemas = [answer_schema(list(shown)) for _, (_, shown, _) in asked]
    requests = [(messages, schema) for (_, (_, _, messages)), schema in zip(asked, schemas)]
    replies = _answer_grouped(llm, requests, [(i, label) for i, (label, _, _) in asked]) \
        if asked and llm is not None else []
    rounds: dict[int, _Rounds] = {}
    for (i, question), schema, reply in zip(asked, schemas, replies):
        rounds.setdefault(i, _Rounds(cfg)).add(question, schema, reply)
    for r in rounds.values():
        r.judge()
    again = [(i, n) for i, r in rounds.items() if r.error is None for n in r.again]
    repairs = llm.answer_all([rounds[i].repair_request(n) for i, n in again]) if again and llm is not None else []
    for (i, n), second in zip(again, repairs):
        rounds[i].repaired(n, second)
    out: list[HypothesesRecord | Exception] = []
    for i, (qs, ctx) in enumerate(zip(questions, ctxs)):
        try:
            if isinstance(qs, Exception):
                raise qs
            if i not in rounds:
                raise AnswerError("no question to ask: the plan has no round for these neighbours")
            out.append(rounds[i].record(ctx))
        except Exception as exc:
            out.append(exc)
    return out


def _answer_grouped(llm: Any, requests: list[tuple[Messages, dict[str, Any]]],
                    groups: list[tuple[int, str]]) -> list[str | Exception]:
    """The answers to ``requests``, in their order, asked with the requests of one group (an
    item's questions about one class: the same examples) one after the other, so that a
    backend that keeps prefixes reads those examples once. Each answer is the same in any
    order."""
    order = sorted(range(len(requests)), key=lambda n: groups[n])  # stable: rounds keep their order
    answers = llm.answer_all([requests[n] for n in order])
    out: list[str | Exception] = [""] * len(requests)
    for n, answer in zip(order, answers):
        out[n] = answer
    return out


class _Rounds:
    """One item's questions, answers and repairs (``hypothesize``)."""

    def __init__(self, cfg: HypothesizeConfig) -> None:
        from pipelines.prompts import load_prompt

        self.cfg = cfg
        self.task = get_task(cfg.task)
        self.repair_prompt = load_prompt(task_prompt(cfg.task, "repair_hypothesize"))
        self.questions: list[tuple[str, dict[int, Neighbour], Messages]] = []
        self.schemas: list[dict[str, Any]] = []
        self.replies: list[str] = []
        self.error: Exception | None = None
        self.usable: list[Hypothesis] = []
        self.found: list[tuple[Hypothesis | None, str, str]] = []
        self.again: list[int] = []

    def add(self, question: tuple[str, dict[int, Neighbour], Messages], schema: dict[str, Any],
            reply: str | Exception) -> None:
        self.questions.append(question)
        self.schemas.append(schema)
        if isinstance(reply, Exception):
            self.error = self.error or reply
            reply = ""
        self.replies.append(reply)

    def judge(self) -> None:
        if self.error is not None:
            return
        for (label, shown, _), reply in zip(self.questions, self.replies):
            hypothesis, how, problem = _read_and_judge(reply, label, shown, self.task, self.usable)
            if hypothesis is not None and not problem:
                self.usable.append(hypothesis.model_copy(update={"number": len(self.usable) + 1}))
            self.found.append((hypothesis, how, problem))
        self.again = [n for n, (_, _, problem) in enumerate(self.found) if problem]

    def repair_request(self, n: int) -> tuple[Messages, dict[str, Any]]:
        return ([*self.questions[n][2], ("assistant", self.replies[n]),
                 ("user", self.repair_prompt.render(error=self.found[n][2]))], self.schemas[n])

    def repaired(self, n: int, second: str | Exception) -> None:
        if isinstance(second, Exception):
            self.error = self.error or second
            return
        label, shown, _ = self.questions[n]
        retry, how, problem = _read_and_judge(second, label, shown, self.task, self.usable)
        first = self.found[n][0]
        if retry is not None and (first is None or len(retry.problems) <= len(first.problems)):
            self.found[n], self.replies[n] = (retry, f"repair+{how}", problem), second
            if not problem:
                self.usable.append(retry.model_copy(update={"number": len(self.usable) + 1}))

    def record(self, ctx: StageContext) -> HypothesesRecord:
        from pipelines.prompts import load_prompt

        if self.error is not None:
            raise self.error
        degenerate = [h for h, _, problem in self.found if h is not None and problem]
        ways = [how for h, how, _ in self.found if h is not None]
        if not ways:
            raise AnswerError(f"no hypothesis in any answer, even after a repair; last reply: "
                              f"{quoted_reply(self.replies[-1])}")
        prompt = load_prompt(prompt_name(self.cfg))
        return HypothesesRecord(
            **{**ctx.provenance, "model": self.cfg.llm.model, "prompt_id": prompt.id, "prompt_version": prompt.version},
            hypotheses=self.usable,
            degenerate=[h.model_copy(update={"number": n}) for n, h in enumerate(degenerate, 1)],
            neighbour_ids=[n.item_id for n in _ordered(ctx)],
            extraction=next((w for w in ways if w != "json"), "json"), repaired=bool(self.again),
            raw="\n".join(self.replies),
        )
