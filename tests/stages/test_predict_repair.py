"""predict checks each explanation by the audit's rules against its own video's evidence before
keeping the answer, and sends a contradicted one back once with the claims named
(``predict.check_explanation``, ``max_repairs``). The scripted chat model is a fake for this
unit logic only; the real bundled LLM runs the same loop in test_predict_real.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from pipelines.models.llm import CachedLLM
from pipelines.records import Item, SummaryRecord, TranscriptRecord, TranscriptSegment
from pipelines.stages import get_stage
from pipelines.stages.predict import PredictConfig
from pipelines.stages.registry import ModelPool
from tests.conftest import make_ctx

REPAIR_CUE = "explanation said things about this video that its own evidence does not hold"
SPOKEN = "Five, four, three, two, one. Lift off!"
HORSES = "The video shows horse sketches with no audio track, so hypothesis 1 applies."


def answer(explanation: str, label: str = "global-big-hit") -> str:
    return ('{"label": "%s", "scale": %d, "confidence": 0.8, "explanation": "%s", "evidence": []}'
            % (label, 4 if label == "global-big-hit" else 1, explanation))


# title -> (first answer, answer to the explanation repair); every item has speech in its transcript
SCRIPT = {
    "Rocket launch countdown": (answer(HORSES), answer("The video shows a rocket launch countdown.", "local-hit")),
    "Espresso at home": (answer("The video shows espresso at home."), None),
    "Cat on a sofa": (answer("The video has no audio track."), answer("This clip has no audio track at all.")),
    "Coin collection": (answer("An engaging clip for collectors."), None),
    "Motorcycle ride": (answer("The video shows a horse race."), "no JSON here"),
}


class ScriptedChat(BaseChatModel):
    """Answers by the title in the video text: the first answer, or the repair's when the last
    message is an explanation repair request; keeps every conversation it was sent."""

    sent: list[list[tuple[str, str]]] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.sent.append([(m.type, str(m.content)) for m in messages])
        text = "\n".join(str(m.content) for m in messages)
        title = next(t for t in SCRIPT if f"Title: {t}" in text)
        first, repair = SCRIPT[title]
        reply = repair if REPAIR_CUE in str(messages[-1].content) else first
        assert reply is not None, f"{title}: no repair was expected"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])


def summary(item_id: str, title: str) -> SummaryRecord:
    return SummaryRecord(item_id=item_id, stage="summarize", stage_version=1, key=f"k-{item_id}", input_hash="i",
                         config_hash="c", text=f"Title: {title}\n\nSpeech: {SPOKEN}", sections=["title", "speech"])


def transcript(item_id: str) -> TranscriptRecord:
    return TranscriptRecord(item_id=item_id, stage="transcribe_audio", stage_version=1, key="k", input_hash="i",
                            config_hash="c", duration_s=5.0, segments=[TranscriptSegment(start_s=0.0, end_s=4.0,
                                                                                        text=SPOKEN)])


def run(cfg: PredictConfig, chat: ScriptedChat, tmp_path: Path, titles: list[str] | None = None) -> dict[str, Any]:
    """predict over the scripted items (one batch) -> item id -> record or exception."""
    pool = ModelPool()
    # the stage's LLM handle, around the scripted chat model (older pools kept it with the models)
    getattr(pool, "handle", pool.get)(f"llm:{cfg.llm.model_dump_json()}",
                                      lambda: CachedLLM(cfg.llm, tmp_path / "cache", chat=chat))
    items, ctxs = [], []
    for n, title in enumerate(titles or list(SCRIPT)):
        item_id = f"i{n}"
        # label-defining metadata (views, countries) must never reach a prompt, the year may
        items.append(Item(item_id=item_id, title=title, split="test", labels={"popularity": "global-big-hit"},
                          metadata={"views": 987654321, "countries": 17, "year": 2021}))
        ctx = make_ctx("predict", tmp_path, {"summarize": summary(item_id, title),
                                             "transcribe_audio": transcript(item_id)}, models=pool)
        ctx.cache_dir = tmp_path / "cache"
        ctxs.append(ctx)
    outcomes = get_stage("predict").fn(items, cfg, ctxs)
    return {item.title: out for item, out in zip(items, outcomes)}


@pytest.fixture
def chat() -> ScriptedChat:
    return ScriptedChat(sent=[])


def repair_requests(chat: ScriptedChat, title: str) -> list[list[tuple[str, str]]]:
    """The explanation repair requests sent about the item titled ``title``."""
    return [m for m in chat.sent if REPAIR_CUE in m[-1][1] and any(f"Title: {title}" in text for _, text in m)]


def test_a_contradicted_explanation_goes_back_once_with_its_claims_named(chat: ScriptedChat, tmp_path: Path):
    records = run(PredictConfig(task="popularity", mode="zero_shot"), chat, tmp_path)
    rocket = records["Rocket launch countdown"]
    # the repair request: the first request again (not the flagged answer, which small models repeat when it is
    # their last turn), then the claims the rules flagged, with why
    (request,) = repair_requests(chat, "Rocket launch countdown")
    (first_request,) = [m for m in chat.sent if "Title: Rocket" in m[-1][1]]
    assert request[:-1] == first_request and request[-1][0] == "human"
    assert HORSES in request[-1][1] and "contradicted" in request[-1][1]
    assert "speech was recognised" in request[-1][1]  # the reason: this video has audio
    assert request[-1][1].index('<untrusted kind="audit">') < request[-1][1].index(HORSES)
    # both versions kept: the first answer whole with its verdicts, the repair with its own
    first = rocket.first_answer
    assert first is not None and first.explanation == HORSES and first.label == "global-big-hit"
    assert first.check.counts["contradicted"] == 1 and [c.text for c in first.check.flagged] == [HORSES]
    (repair,) = rocket.repairs
    assert repair.named == [HORSES] and repair.kept and repair.error == ""
    assert repair.answer is not None and repair.answer.check.counts["supported"] == 1
    # the repaired answer is the prediction
    assert rocket.explanation == "The video shows a rocket launch countdown." and rocket.label == "local-hit"
    assert rocket.explanation_check is not None and rocket.explanation_check.counts == {
        "supported": 1, "contradicted": 0, "unsupported": 0, "unverifiable": 0}
    assert rocket.verifiable_share == 1.0 and not rocket.explanation_flagged
    assert rocket.raw == answer("The video shows a rocket launch countdown.", "local-hit")


def test_a_supported_explanation_is_kept_without_a_repair(chat: ScriptedChat, tmp_path: Path):
    records = run(PredictConfig(task="popularity", mode="zero_shot"), chat, tmp_path)
    espresso = records["Espresso at home"]
    assert espresso.explanation_check is not None and espresso.explanation_check.counts["supported"] == 1
    assert espresso.repairs == [] and espresso.first_answer is None and not espresso.explanation_flagged
    assert espresso.verifiable_share == 1.0
    assert repair_requests(chat, "Espresso at home") == []
    # a judgement is no hallucination, and no fact: kept, with nothing verifiable
    vague = records["Coin collection"]
    assert vague.repairs == [] and vague.verifiable_share == 0.0
    assert vague.explanation_check is not None and vague.explanation_check.counts["unverifiable"] == 1


def test_a_repair_still_contradicted_is_kept_flagged_with_both_versions_and_no_second_repair(
        chat: ScriptedChat, tmp_path: Path):
    records = run(PredictConfig(task="popularity", mode="zero_shot", max_repairs=1), chat, tmp_path)
    cat = records["Cat on a sofa"]
    assert len(repair_requests(chat, "Cat on a sofa")) == 1
    assert cat.explanation == "This clip has no audio track at all." and cat.explanation_flagged
    assert cat.first_answer is not None and cat.first_answer.explanation == "The video has no audio track."
    (repair,) = cat.repairs
    assert repair.kept and repair.answer is not None and repair.answer.check.counts["contradicted"] == 1
    assert cat.explanation_check is not None and cat.explanation_check.counts["contradicted"] == 1
    # an unusable repair leaves the first answer, recorded and still flagged
    moto = records["Motorcycle ride"]
    assert moto.explanation == "The video shows a horse race." and moto.explanation_flagged
    (failed,) = moto.repairs
    assert not failed.kept and failed.answer is None and failed.error.startswith("no valid answer")
    assert failed.raw == "no JSON here" and moto.first_answer is not None


def test_a_refused_repair_is_not_asked_again(chat: ScriptedChat, tmp_path: Path):
    """With room for more repairs, an answer whose repair was not kept is not sent back with the
    same request again; a kept repair that is still flagged is."""
    records = run(PredictConfig(task="popularity", mode="zero_shot", max_repairs=2), chat, tmp_path,
                  ["Motorcycle ride", "Cat on a sofa"])
    assert len(records["Motorcycle ride"].repairs) == 1
    assert len(records["Cat on a sofa"].repairs) == 2 and records["Cat on a sofa"].explanation_flagged


def test_no_label_defining_field_reaches_a_repair_request(chat: ScriptedChat, tmp_path: Path):
    run(PredictConfig(task="popularity", mode="zero_shot"), chat, tmp_path)
    asked = [m[-1][1] for m in chat.sent if REPAIR_CUE in m[-1][1]]
    assert len(asked) == 3
    for text in asked:
        assert "987654321" not in text and "countries" not in text.casefold() and "views" not in text.casefold()


def test_repairs_are_cached_and_the_check_can_be_turned_off(chat: ScriptedChat, tmp_path: Path):
    cfg = PredictConfig(task="popularity", mode="zero_shot")
    first = run(cfg, chat, tmp_path)
    sent = len(chat.sent)
    assert sent == len(SCRIPT) + 3  # three explanations went back once
    again = run(cfg, chat, tmp_path)
    assert len(chat.sent) == sent  # every answer, repairs included, from the cache
    assert {k: r.model_dump(exclude={"created_at"}) for k, r in again.items()} == \
        {k: r.model_dump(exclude={"created_at"}) for k, r in first.items()}
    off = run(PredictConfig(task="popularity", mode="zero_shot", check_explanation=False), chat, tmp_path / "off")
    rocket = off["Rocket launch countdown"]
    assert rocket.explanation == HORSES and rocket.explanation_check is None and rocket.repairs == []
    checked_only = run(PredictConfig(task="popularity", mode="zero_shot", max_repairs=0), chat, tmp_path / "zero")
    rocket = checked_only["Rocket launch countdown"]
    assert rocket.explanation == HORSES and rocket.explanation_flagged and rocket.repairs == []


def test_the_run_summary_gives_the_shares_before_and_after_the_repairs(chat: ScriptedChat, tmp_path: Path):
    from pipelines.audit.explanation import summary_line

    records = run(PredictConfig(task="popularity", mode="zero_shot"), chat, tmp_path)
    line = summary_line(records.values())
    assert line == ("explanations checked before they were kept: 5, 3 sent back with their contradicted or "
                    "unsupported claims named, 2 repairs kept, 2 still flagged; first answers: verifiable 4/5 claims "
                    "(80%), contradicted or unsupported 3/4 of those (75%); as kept: verifiable 4/5 claims (80%), "
                    "contradicted or unsupported 2/4 of those (50%)")
    assert summary_line([]) is None


def test_a_repair_may_cite_no_hypothesis():
    """In the hypotheses modes the first answer must cite one; a repair may conclude none fits."""
    from pipelines.stages.predict import answer_schema, repair_schema
    from pipelines.tasks import get_task

    schema = answer_schema(get_task("popularity"), n_hypotheses=2)
    loose = repair_schema(schema)
    assert schema["properties"]["hypotheses_used"]["minItems"] == 1  # the first answer's schema is unchanged
    assert "minItems" not in loose["properties"]["hypotheses_used"]
    assert loose["properties"]["hypotheses_used"]["items"] == schema["properties"]["hypotheses_used"]["items"]
    assert loose["required"] == schema["required"]
    plain = answer_schema(get_task("popularity"))
    assert repair_schema(plain) == plain
