"""Structured hypotheses: degenerate ones (restating a class, duplicates, citing no example)
are detected, repaired once, then recorded apart — never shown to predict. The rules are
unit logic; the repair flow runs with a scripted chat model; the real bundled LLMs run in
tests/stages/test_predict_real.py and tests/stages/test_hypothesize_real.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from pipelines.hypotheses import grounded, hypothesis_problems
from pipelines.models.llm import CachedLLM, LLMConfig
from pipelines.records import Item, Neighbour, NeighboursRecord
from pipelines.stages import get_stage
from pipelines.stages.hypothesize import HypothesizeConfig
from pipelines.stages.registry import ModelPool
from pipelines.tasks import get_task
from tests.conftest import make_ctx

TASK = get_task("popularity")


def test_a_statement_that_restates_a_class_is_degenerate():
    for text in ("The video is a local hit.", "This video is a global big hit because it is popular worldwide.",
                 "Global big hits get at least 594 thousand views in six or more countries."):
        assert "restates a class" in hypothesis_problems(text, "local-hit", ["a"], TASK, []), text
    good = "Videos with football highlights and famous players tend to be global big hits."
    assert hypothesis_problems(good, "global-big-hit", ["a"], TASK, []) == []


def test_duplicates_and_missing_citations_are_named():
    first = "Videos with football highlights and famous players tend to be global big hits."
    again = "Football highlights with famous players tend to become global big hits."
    assert hypothesis_problems(again, "global-big-hit", ["a"], TASK, [(1, first)]) == ["duplicates hypothesis 1"]
    other = "Town council meetings about parking rules stay local hits."
    assert hypothesis_problems(other, "local-hit", [], TASK, [(1, first)]) == ["cites no example"]
    assert "favours no label" in hypothesis_problems(other, None, ["a"], TASK, [])


def test_a_property_none_of_the_cited_examples_shows_is_degenerate():
    examples = ["Title: Football match highlights. Famous players score in the final."]
    copied = "Videos with a home cook speaking to the camera in a small kitchen"
    assert hypothesis_problems(copied, "local-hit", ["a"], TASK, [], examples) == ["not in its examples"]
    drawn = "Videos that show football highlights of a final with famous players"
    assert hypothesis_problems(drawn, "global-big-hit", ["a"], TASK, [], examples) == []


def test_inflected_words_meet_their_stems_in_the_cited_examples():
    """"drawings" meets "drawing" (Snowball stems; the hand stemmer cut "drawing" to "draw" and
    left "drawings" as "drawing", so this hypothesis was called not in its examples)."""
    task = get_task("popularity")
    texts = ["Title: Silent horse sketch. Description: No sound, just a drawing."]
    assert hypothesis_problems("Videos that show drawings or sketches", "local-hit", ["horse"], task, [], texts) == []


def test_grounded_means_the_explanation_names_the_videos_own_content():
    video = "Title: Countdown to lift off\nSpeech: 5, 4, 3, 2, 1. Lift off. The rocket climbs into the blue sky."
    assert grounded("Hypothesis 2 applies: a rocket launch countdown draws a worldwide audience.", video, TASK)
    assert not grounded("The video has at most about 78 thousand views, trending in a single country.", video, TASK)
    assert grounded("", video, TASK) is None


GOOD = {"statement": "Videos that show football highlights with famous players", "based_on": [2]}
ANSWERS = {  # (examples shown, aspect round, repair?) -> answer
    ("football", 0, False): GOOD,
    ("council", 0, False): {"statement": "The video is a local hit.", "based_on": [1]},
    ("council", 0, True): {"statement": "Videos of a small town council meeting about parking rules",
                           "based_on": [1, 7]},  # example 7 does not exist
    ("football", 1, False): GOOD,
    ("football", 1, True): GOOD,  # still a duplicate after the repair
}


class ScriptedChat(BaseChatModel):
    """Answers each hypothesis question by the examples it shows (the message before the
    question), its aspect and whether it is the repair request (a question, an answer, then
    the repair: two more messages)."""

    seen: list[str] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.seen.append(str(messages[-1].content))
        repair = messages[-2].type == "ai" and "could not be used" in str(messages[-1].content)
        last = -3 if repair else -1  # the question; the examples are in the message before it
        question = str(messages[last - 1].content) + str(messages[last].content)
        shown = "football" if "Football match" in question else "council"
        round_ = 0 if "Name their topic" in question else 1
        answer = ANSWERS[(shown, round_, repair)]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=json.dumps(answer)))])


def test_degenerate_hypotheses_are_repaired_once_then_recorded_apart(tmp_path: Path):
    cfg = HypothesizeConfig(task="popularity", n_hypotheses=3, llm=LLMConfig(backend="openai", model="m"))
    chat = ScriptedChat()
    pool = ModelPool()
    pool.handle(f"llm:{cfg.llm.model_dump_json()}", lambda: CachedLLM(cfg.llm, tmp_path / "cache", chat=chat))
    neighbours = NeighboursRecord(
        item_id="q", stage="retrieve_similar", stage_version=2, key="k", input_hash="i", config_hash="c",
        index_size=2, neighbours=[
            Neighbour(item_id="council", score=0.5, label="local-hit", split="train",
                      text="Title: Small town council meeting\nSpeech: the new parking rules start in May"),
            Neighbour(item_id="football", score=0.4, label="global-big-hit", split="train",
                      text="Title: Football match highlights\nSpeech: famous players score in the final")])
    ctx = make_ctx("hypothesize", tmp_path, {"retrieve_similar": neighbours}, models=pool)
    ctx.cache_dir = tmp_path / "cache"
    (record,) = get_stage("hypothesize").fn([Item(item_id="q", split="test")], cfg, [ctx])
    assert not isinstance(record, Exception), record
    repairs = [m for m in chat.seen if "could not be used" in m]
    assert len(repairs) == 2  # the class restatement and the duplicate, each asked again once
    assert any("restates a class" in m for m in repairs)
    assert any(f'duplicates hypothesis 1 ("{GOOD["statement"]}")' in m or
               f'duplicates hypothesis 2 ("{GOOD["statement"]}")' in m for m in repairs)
    assert record.repaired and record.extraction == "repair+json"
    assert sorted((h.favours, tuple(h.based_on)) for h in record.hypotheses) == [
        ("global-big-hit", ("football",)), ("local-hit", ("council",))]
    assert [h.number for h in record.hypotheses] == [1, 2]
    (dropped,) = record.degenerate
    assert dropped.text == GOOD["statement"] and dropped.problems[0].startswith("duplicates hypothesis")


def test_the_plan_takes_classes_in_turn_with_no_class_first_by_name():
    from pipelines.stages.hypothesize import plan

    def neighbours(labels: dict[str, str]) -> list[Neighbour]:
        return [Neighbour(item_id=i, score=0.5, label=label, split="train", text="t") for i, label in labels.items()]

    majority = plan(neighbours({"a": "local-hit", "b": "local-hit", "c": "global-big-hit"}), 3)
    assert majority == [("local-hit", 0), ("global-big-hit", 0), ("local-hit", 1)]
    # ties: which class goes first depends on the neighbour set, and both orders occur
    firsts = {plan(neighbours({f"x{k}": "local-hit", f"y{k}": "global-big-hit"}), 3)[0][0] for k in range(20)}
    assert firsts == {"local-hit", "global-big-hit"}
