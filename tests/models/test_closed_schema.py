"""Answer schemas are closed before they reach a backend: a key the schema does not name is
not admitted (JSON Schema's default admits any), so constrained decoding cannot wander off into
keys nobody asked for."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from pipelines.models.llm import CachedLLM, LLMConfig, closed_schema, to_langchain

NESTED = {
    "type": "object",
    "properties": {
        "scores": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
        "claims": {"type": "array", "items": {"type": "object", "properties": {"text": {"type": "string"}}}},
        "either": {"anyOf": [{"type": "object", "properties": {"x": {"type": "number"}}}, {"type": "null"}]},
        "free": {"type": "object"},  # names no properties: a free mapping stays free
        "open": {"type": "object", "properties": {"y": {"type": "string"}}, "additionalProperties": True},
        "choice": {"enum": [{"properties": {"not": "a schema"}}]},  # values, not schemas
        "ref": {"$ref": "#/$defs/part"},
    },
    "$defs": {"part": {"type": "object", "properties": {"z": {"type": "string"}}}},
}


def test_every_object_that_names_its_keys_is_closed_and_nothing_else_changes() -> None:
    before = copy.deepcopy(NESTED)
    closed = closed_schema(NESTED)
    assert NESTED == before  # the argument is left as it was
    props = closed["properties"]
    assert closed["additionalProperties"] is False
    assert props["scores"]["additionalProperties"] is False
    assert props["claims"]["items"]["additionalProperties"] is False
    assert props["either"]["anyOf"][0]["additionalProperties"] is False and props["either"]["anyOf"][1] == {"type": "null"}
    assert closed["$defs"]["part"]["additionalProperties"] is False
    assert props["free"] == {"type": "object"}
    assert props["open"]["additionalProperties"] is True
    assert props["choice"] == NESTED["properties"]["choice"]
    assert props["ref"] == {"$ref": "#/$defs/part"}
    assert closed_schema(closed) == closed  # closing twice changes nothing


class _Recorder:
    """A chat model that records the options it is called with and answers "{}"."""

    def __init__(self) -> None:
        self.options: list[dict] = []

    def invoke(self, messages: list, **options: object) -> object:
        from langchain_core.messages import AIMessage

        self.options.append(options)
        return AIMessage("{}")


def test_the_backend_and_the_cache_key_get_the_closed_schema(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
    chat = _Recorder()
    llm = CachedLLM(LLMConfig(model="bundled:smollm2-135m-instruct"), tmp_path, chat=chat)
    llm.complete([("user", "which label?")], schema)
    assert chat.options[0]["json_schema"] == {**schema, "additionalProperties": False}
    entry = json.loads(next((tmp_path / "llm").rglob("*.json")).read_text())
    assert entry["schema"]["additionalProperties"] is False
    # the same question with the schema already closed is the same request: one cache entry
    llm.complete([("user", "which label?")], {**schema, "additionalProperties": False})
    assert llm.calls == 1 and llm.hits == 1


def test_a_real_model_asked_for_an_extra_key_writes_only_the_schemas_keys(tmp_path: Path) -> None:
    """The bundled 0.5B (onnx), asked in words for a key the schema does not name: with the
    schema open it writes that key; closed by m2t it cannot."""
    from pipelines.models.llm_ortgenai import load_ortgenai_chat

    schema = {"type": "object", "properties": {"label": {"type": "string", "enum": ["cat", "dog"]}},
              "required": ["label"]}
    question = [("user", 'Which animal purrs? Answer as JSON with two keys: "label" (cat or dog) and '
                         '"sound" (the sound it makes), for example {"label": "dog", "sound": "woof"}.')]
    chat = load_ortgenai_chat("bundled:qwen2.5-0.5b-instruct", max_tokens=40)
    opened = json.loads(chat.invoke(to_langchain(question), json_schema=schema, max_tokens=40).content)
    assert "sound" in opened  # the question does draw the extra key out of an open schema
    llm = CachedLLM(LLMConfig(backend="onnx", model="bundled:qwen2.5-0.5b-instruct", max_tokens=40), tmp_path,
                    chat=chat)
    answer = json.loads(llm.complete(question, schema))
    assert set(answer) == {"label"} and answer["label"] in ("cat", "dog")
