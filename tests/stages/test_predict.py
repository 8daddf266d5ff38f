"""predict: every kind of bad model answer ends as a recorded outcome (a fallback path or a
per-item error), never a crashed batch. The scripted chat model below is a fake for this unit
logic only; the real bundled LLM runs in test_predict_real.py."""

from __future__ import annotations

import math
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from pipelines.executors import LocalExecutor, WorkItem
from pipelines.models.llm import CachedLLM, LLMConfig
from pipelines.records import Item, SummaryRecord
from pipelines.stages import get_stage
from pipelines.stages.predict import PredictConfig
from pipelines.stages.registry import ModelPool
from tests.conftest import make_ctx

GOOD = '{"label": "global-big-hit", "scale": 4, "confidence": 0.9, "explanation": "A famous singer.", "evidence": ["world famous singer"]}'
SCRIPT = {  # title keyword -> (first answer, answer to the repair request)
    "good": (GOOD, GOOD),
    "invalid": ('{"label": local-hit, ', '{label: local-hit}'),
    "cut_off": ('{"label": "global-big-hit", "confidence": 0.6, "explanation": "a famous sing', GOOD),
    "empty": ("", ""),
    "refusal": ("I'm sorry, but I can't help with that.", '{"label": "local-hit", "scale": 4, "confidence": 0.6}'),
    "outside": ('{"label": "viral"}', '{"label": "mega-hit"}'),
}


class ScriptedChat(BaseChatModel):
    """Answers by the keyword in the video text; the repair request gets the second answer."""

    scoring: bool = False

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        text = "\n".join(str(m.content) for m in messages)
        keyword = next(k for k in SCRIPT if f"Title: {k}" in text)
        answer = SCRIPT[keyword][1 if len(messages) > 2 else 0]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=answer))])


class ScoringChat(ScriptedChat):
    """Log-likelihoods with a strong prior for global-big-hit: under the content-free input
    ("N/A" as the video) global-big-hit scores -3 and local-hit -6 (after the shared prefix's
    -2); given the video, -4.5 and -4. Raw and per character, global-big-hit looks best; the
    video itself raises local-hit by 2 nats and lowers global-big-hit by 1.5, so calibrated,
    local-hit wins."""

    def score_continuations(self, messages: list[Any], continuations: list[str]) -> list[float]:
        content_free = "N/A" in str(messages[-1].content)
        local, big = (-8.0, -5.0) if content_free else (-6.0, -6.5)
        table = {'{"label": "': -2.0, '{"label": "local-hit"': local, '{"label": "global-big-hit"': big}
        return [table[c] for c in continuations]


def summary(item_id: str, title: str) -> SummaryRecord:
    return SummaryRecord(item_id=item_id, stage="summarize", stage_version=1, key=f"k-{item_id}", input_hash="i",
                         config_hash="c", text=f"Title: {title}\n\nDescription: the new single of a world famous singer",
                         sections=["title", "description"])


def run_items(cfg: PredictConfig, chat: Any, tmp_path: Path) -> dict[str, Any]:
    pool = ModelPool()
    pool.handle(f"llm:{cfg.llm.model_dump_json()}", lambda: CachedLLM(cfg.llm, tmp_path / "cache", chat=chat))
    tasks = []
    for keyword in SCRIPT:
        item = Item(item_id=keyword, title=keyword, split="test")
        ctx = make_ctx("predict", tmp_path, {"summarize": summary(keyword, keyword)}, models=pool)
        ctx.cache_dir = tmp_path / "cache"
        tasks.append(WorkItem(item, ctx))
    return {o.item_id: o for o in LocalExecutor().run_batch(get_stage("predict"), cfg, tasks)}


def test_bad_answers_without_label_scoring_become_item_errors(tmp_path: Path):
    outcomes = run_items(PredictConfig(task="popularity", mode="zero_shot", llm=LLMConfig(backend="openai", model="m")), ScriptedChat(), tmp_path)
    good = outcomes["good"].record
    assert good.label == "global-big-hit" and good.extraction == "json" and good.confidence == 0.9
    assert good.scale == 4
    assert good.evidence_found == [True]
    cut = outcomes["cut_off"].record
    assert (cut.label, cut.confidence, cut.extraction) == ("global-big-hit", 0.6, "json+partial")
    refusal = outcomes["refusal"].record
    assert refusal.label == "local-hit" and refusal.extraction == "repair"
    assert refusal.scale is None  # a scale that contradicts the label is dropped
    for bad, why in [("invalid", "no JSON object"), ("empty", "empty"), ("outside", "'mega-hit' is not one of")]:
        error = outcomes[bad].error
        assert error is not None and error.error_type == "AnswerError"
        assert "no valid answer after one repair" in error.reason and why in error.reason
        assert "last reply: " in error.reason and "\n" not in error.reason


def test_local_models_fall_back_to_calibrated_label_scoring(tmp_path: Path):
    """The label is the arg-max of the stored (calibrated) scores, not of a length-normalised
    likelihood that favours the longer label."""
    outcomes = run_items(PredictConfig(task="popularity", mode="zero_shot"), ScoringChat(), tmp_path)
    for bad in ("invalid", "empty", "outside"):
        record = outcomes[bad].record
        assert record.extraction == "label_scores" and record.label == "local-hit"
        assert record.label_scores_raw == {"local-hit": -4.0, "global-big-hit": -4.5}
        assert record.label_scores_content_free == {"local-hit": -6.0, "global-big-hit": -3.0}
        assert record.label_scores == {"local-hit": 2.0, "global-big-hit": -1.5}
        assert record.label == max(record.label_scores, key=record.label_scores.get)
        assert record.confidence == pytest.approx(1 / (1 + math.exp(-3.5)), abs=1e-4)
    assert outcomes["good"].record.extraction == "json" and outcomes["refusal"].record.extraction == "repair"
    assert outcomes["cut_off"].record.extraction == "json+partial"


def test_answers_are_cached(tmp_path: Path):
    cfg = PredictConfig(task="popularity", mode="zero_shot")
    chat = ScoringChat()
    run_items(cfg, chat, tmp_path)
    again = CachedLLM(cfg.llm, tmp_path / "cache", chat=chat)
    pool = ModelPool()
    pool.handle(f"llm:{cfg.llm.model_dump_json()}", lambda: again)
    ctx = make_ctx("predict", tmp_path, {"summarize": summary("good", "good")}, models=pool)
    ctx.cache_dir = tmp_path / "cache"
    (record,) = get_stage("predict").fn([Item(item_id="good", title="good", split="test")], cfg, [ctx])
    assert record.extraction == "json" and again.calls == 0 and again.hits == 1


def silent_server() -> tuple[socket.socket, int]:
    """A loopback server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(server.accept()[0]) for _ in range(8)], daemon=True).start()
    return server, server.getsockname()[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("situation", ["down", "timeout"])
def test_server_down_or_slow_gives_item_errors(tmp_path: Path, situation: str):
    server, port = silent_server() if situation == "timeout" else (None, free_port())
    try:
        cfg = PredictConfig(task="popularity", mode="zero_shot", llm=LLMConfig(backend="openai", model="m", base_url=f"http://127.0.0.1:{port}/v1",
                                                            timeout_s=1.0, max_retries=1, retry_wait_s=0.05))
        tasks = []
        pool = ModelPool()
        for i in range(2):
            ctx = make_ctx("predict", tmp_path, {"summarize": summary(f"i{i}", "good")}, models=pool)
            ctx.cache_dir = tmp_path / "cache"
            tasks.append(WorkItem(Item(item_id=f"i{i}", title="good", split="test"), ctx))
        outcomes = LocalExecutor().run_batch(get_stage("predict"), cfg, tasks)
    finally:
        if server is not None:
            server.close()
    assert [o.error.error_type for o in outcomes] == ["LLMError", "LLMError"]
    reason = outcomes[0].error.reason
    assert f"openai model 'm' at http://127.0.0.1:{port}/v1 did not answer" in reason and "\n" not in reason
    assert ("timed out" in reason.lower() or "timeout" in reason.lower()) if situation == "timeout" else "connect" in reason.lower()
