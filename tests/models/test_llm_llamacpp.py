"""The optional llama.cpp backend on the bundled GGUF (SmolLM2-135M-Instruct Q4_1).

Runs where the extra is installed (`make llamacpp`; CI installs it); elsewhere the module is
skipped with the reason, since llama-cpp-python must be compiled for the CPU.
"""

from pathlib import Path

import pytest

pytest.importorskip("llama_cpp", reason="optional extra llamacpp is not installed: make llamacpp")

from pipelines.models.llm import CachedLLM, LLMConfig  # noqa: E402
from pipelines.stages.predict import answer_schema  # noqa: E402
from pipelines.tasks import get_task  # noqa: E402

CFG = LLMConfig(backend="llamacpp", model="bundled:smollm2-135m-instruct-gguf", max_tokens=200)


def test_schema_constrained_answer_is_valid_json_with_an_allowed_label(tmp_path: Path):
    from pipelines.models.structured import parse_prediction

    task = get_task("popularity")
    llm = CachedLLM(CFG, tmp_path)
    messages = [("user", "Is a video of a town council meeting a local-hit or a global-big-hit? Answer in JSON.")]
    reply = llm.complete(messages, answer_schema(task))
    answer = parse_prediction(reply, task)
    assert answer.label in task.labels
    assert llm.complete(messages, answer_schema(task)) == reply and llm.hits == 1
    free = llm.complete(messages)  # no schema: a different call, free text
    assert llm.calls == 2 and isinstance(free, str)
    assert not llm.can_score


def test_missing_gguf_is_a_config_error(tmp_path: Path):
    from pipelines.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot load GGUF model"):
        CachedLLM(LLMConfig(backend="llamacpp", model=str(tmp_path / "none.gguf")), tmp_path).chat
