"""OrtGenAIChatModel (the ``onnx`` backend) on the real bundled Qwen2.5-Coder-0.5B-Instruct,
its int4 ONNX build (made once by ``make setup``; loaded once for the module).

The prompts are m2t's own predict prompt (``popularity/predict_hypotheses``) over short video
texts of different lengths, so that batches pad their rows differently.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from pipelines.errors import ConfigError
from pipelines.models.llm import LLMConfig
from pipelines.models.llm_ortgenai import OrtGenAIChatModel, from_config, load_ortgenai_chat
from pipelines.prompts import load_prompt
from pipelines.tasks import get_task

LABELS = ("local-hit", "global-big-hit")
SCHEMA = {
    "type": "object",
    "properties": {
        "evidence": {"type": "array", "items": {"type": "string", "maxLength": 80}, "minItems": 1, "maxItems": 2},
        "explanation": {"type": "string", "maxLength": 200},
        "label": {"type": "string", "enum": list(LABELS)},
        # multipleOf bounds the digits: unbounded, the 0.5B writes 0.999... until max_tokens
        "confidence": {"type": "number", "minimum": 0.5, "maximum": 1, "multipleOf": 0.01},
    },
    "required": ["evidence", "explanation", "label", "confidence"],
    "additionalProperties": False,
}
VIDEOS = [
    "Title: Rocket launch countdown\nSpeech: ten, nine, eight ... lift off.",
    "Title: Big Buck Bunny\nDescription: A big rabbit wakes up in a green meadow and meets three bullies. "
    "Frames: a hare in a forest, bright green light, warm tones; a butterfly; a squirrel throws a nut; the "
    "rabbit builds a trap of branches and ropes; the bullies fly into a tree; sunset over the meadow.",
    "Title: My town's bakery\nSpeech: Today I visit the bakery on our main street; the baker shows how she "
    "kneads the dough and bakes bread every morning at five. On-screen text: OPEN 6-14.",
]
HYPOTHESES = [{"number": 1, "text": "Animated animals in bright outdoor scenes", "favours": "global-big-hit"},
              {"number": 2, "text": "A single person speaking about a local place", "favours": "local-hit"}]


def predict_messages(video: str) -> list:
    from pipelines.models.llm import to_langchain

    task = get_task("popularity")
    return to_langchain(load_prompt("popularity/predict_hypotheses").messages(
        video_text=video, labels=task.label_descriptions, hypotheses=HYPOTHESES))


@pytest.fixture(scope="module")
def chat() -> OrtGenAIChatModel:
    return load_ortgenai_chat("bundled:qwen2.5-0.5b-instruct", max_tokens=64)


def assert_valid(answer: dict) -> None:
    """The answer obeys SCHEMA (the parts the test's schema uses)."""
    assert set(answer) == set(SCHEMA["properties"])
    assert answer["label"] in LABELS
    assert isinstance(answer["confidence"], (int, float)) and 0.5 <= answer["confidence"] <= 1
    assert isinstance(answer["explanation"], str) and len(answer["explanation"]) <= 200
    assert 1 <= len(answer["evidence"]) <= 2 and all(isinstance(e, str) and len(e) <= 80 for e in answer["evidence"])


@pytest.mark.slow
def test_schema_constrained_answer_is_valid_and_counted(chat: OrtGenAIChatModel) -> None:
    messages = predict_messages(VIDEOS[0])
    reply = chat.invoke(messages, json_schema=SCHEMA, max_tokens=160)
    assert isinstance(reply, AIMessage)
    assert_valid(json.loads(reply.content))
    assert reply.response_metadata["finish_reason"] == "stop"
    usage = reply.usage_metadata
    assert usage["input_tokens"] > 200 and 0 < usage["output_tokens"] <= 160
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert reply.response_metadata["prefill_seconds"] > 0 and reply.response_metadata["decode_seconds"] > 0
    short = [[HumanMessage(f"Rate a {pet} video as JSON.")] for pet in ("cat", "dog")]
    batch = chat.batch(short, json_schema=SCHEMA, max_tokens=120)
    assert [b.content for b in batch] == [chat.invoke(m, json_schema=SCHEMA, max_tokens=120).content for m in short]
    for answer in batch:
        assert_valid(json.loads(answer.content))


def test_greedy_is_deterministic_and_max_tokens_is_per_call(chat: OrtGenAIChatModel) -> None:
    question = [HumanMessage("What is the capital of France? Answer in one word.")]
    first, second = chat.invoke(question), chat.invoke(question)
    assert first.content == second.content and "Paris" in first.content
    assert "<|im_end|>" not in first.content and "assistant" not in first.content  # new text only
    short = chat.invoke([HumanMessage("Count from 1 to 100, separated by commas.")], max_tokens=5)
    assert short.usage_metadata["output_tokens"] == 5
    assert short.response_metadata["finish_reason"] == "length"
    cut = chat.invoke(question, stop=["aris"])
    assert cut.content == first.content[: first.content.index("aris")]


def test_threads_that_sleep_or_spin_give_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """OMP_WAIT_POLICY=PASSIVE (tests/conftest.py sets it) makes the session's waiting threads
    sleep; without it they spin. The same greedy tokens either way: only the waiting changes."""
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    sleeping = load_ortgenai_chat("bundled:qwen2.5-0.5b-instruct", max_tokens=64)
    monkeypatch.delenv("OMP_WAIT_POLICY")
    spinning = load_ortgenai_chat("bundled:qwen2.5-0.5b-instruct", max_tokens=64)
    messages = predict_messages(VIDEOS[2])
    assert spinning.invoke(messages).content == sleeping.invoke(messages).content


def test_seeded_sampling_repeats_per_seed(chat: OrtGenAIChatModel) -> None:
    poem = [HumanMessage("Write one line of a poem about rain.")]
    runs = [chat.invoke(poem, temperature=1.0, seed=seed, max_tokens=12).content for seed in (7, 7, 8)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]  # checked for these seeds: another seed, another line


@pytest.mark.slow
def test_batch_answers_equal_answers_alone(chat: OrtGenAIChatModel) -> None:
    """m2t's rule: an answer never depends on its batch-mates or on what ran before. Greedy
    answers of 64 tokens to three predict prompts of different lengths (sharing their
    system prompt, which the model keeps read), alone and through LangChain's ``batch`` in
    another order."""
    prompts = [predict_messages(v) for v in VIDEOS]
    alone = [chat.invoke(p, max_tokens=64) for p in prompts]
    assert all(a.usage_metadata["output_tokens"] >= 60 for a in alone)  # long enough to drift, if it did
    assert len({a.usage_metadata["input_tokens"] for a in alone}) == 3
    batch = chat.batch([prompts[2], prompts[0], prompts[1]], max_tokens=64)
    assert [b.content for b in batch] == [alone[2].content, alone[0].content, alone[1].content]
    assert [b.usage_metadata for b in batch] == [alone[2].usage_metadata, alone[0].usage_metadata,
                                                 alone[1].usage_metadata]
    # at least the system prompt (read by the first of `alone`, then kept) is not read again
    system = alone[1].response_metadata["reused_prefix_tokens"]
    assert system > 100 and all(b.response_metadata["reused_prefix_tokens"] >= system for b in batch)


def test_the_runtime_batch_takes_prompts_of_one_length(chat: OrtGenAIChatModel) -> None:
    """``run_batch`` (the benchmark's) refuses prompts of different lengths: the bundled builds'
    pruned head reads the batch's last position, a pad in a shorter row (measured: the shorter
    of two right-padded rows began its answer with "Human:"). Two different prompts of one
    length are answered each as alone."""
    from langchain_core.messages import HumanMessage

    short, long = ([HumanMessage(content=t)] for t in ("Name two colours.", "Name two colours of the sea at night."))
    with pytest.raises(ValueError, match="one length"):
        chat.run_batch([short, long], max_tokens=8)
    twin = [HumanMessage(content="Name two colours of a ripe lemon tree.")]
    assert len(chat._prompt_ids(twin)) == len(chat._prompt_ids(long))
    batch = chat.run_batch([long, twin], max_tokens=12)
    assert [b.content for b in batch] == [chat.run_batch([p], max_tokens=12)[0].content for p in (long, twin)]
    assert not any(b.content.startswith("Human") for b in batch)


def hypothesis_messages(round_: int) -> list:
    """m2t's hypothesize prompt: a system prompt and a worked example shared by every
    question, then the question (its neighbours and aspect)."""
    from pipelines.models.llm import to_langchain

    examples = [{"number": n, "text": f"Title: {title}"} for n, title in
                enumerate(("Rocket launch countdown", "Launch of a weather satellite", "A cat on a sofa"), 1)]
    return to_langchain(load_prompt("popularity/hypothesize").messages(
        label="global-big-hit", examples=examples[round_ % 2:][:2], round=round_))


@pytest.mark.slow
def test_a_kept_prefix_changes_speed_only(chat: OrtGenAIChatModel) -> None:
    """The shared system prompt and worked example are read once, then rewound to, and so are
    the examples of one set and the first exchange of a repair; the answers equal those of a
    fresh model that reads them anew (greedy, with and without a schema), and a sampled answer
    never starts from a kept generator."""
    schema = {"type": "object", "properties": {"statement": {"type": "string", "maxLength": 120},
                                               "based_on": {"type": "array", "items": {"type": "integer"}}},
              "required": ["statement", "based_on"], "additionalProperties": False}
    questions = [hypothesis_messages(r) for r in range(3)]
    first = [chat.invoke(q, json_schema=schema, max_tokens=48) for q in questions]
    reused = [a.response_metadata["reused_prefix_tokens"] for a in first]
    assert reused[0] == 0 and reused[1] == reused[2] > 100  # the system prompt and example: read once
    again = chat.invoke(questions[0], json_schema=schema, max_tokens=48)
    # questions[2] shows the examples of questions[0]: asked just before, it left them read
    assert again.content == first[0].content and again.response_metadata["reused_prefix_tokens"] > reused[1] + 40
    fresh = load_ortgenai_chat("bundled:qwen2.5-0.5b-instruct", max_tokens=48)
    assert fresh.invoke(questions[2], json_schema=schema).content == first[2].content
    # asked again, it reads only the question: its examples too were kept
    assert fresh.invoke(questions[2], json_schema=schema).response_metadata["reused_prefix_tokens"] > reused[1] + 40
    plain = [chat.invoke(q, max_tokens=24).content for q in (questions[1], questions[2])]
    assert [fresh.invoke(q, max_tokens=24).content for q in (questions[2], questions[1])] == plain[::-1]
    for answer in first:
        assert json.loads(answer.content)["statement"]
    # a question about the examples just read (another round) reads only itself; a repair request
    # (the question, its answer, what was wrong) reads only the answer and the request
    chat.invoke(questions[0], json_schema=schema, max_tokens=48)
    other_round = chat.invoke(questions[2], json_schema=schema, max_tokens=48)
    assert other_round.content == first[2].content
    assert other_round.response_metadata["reused_prefix_tokens"] > reused[1] + 40
    repair = [*questions[2], AIMessage(content=first[2].content), HumanMessage(content="Name one more property.")]
    repaired = chat.invoke(repair, json_schema=schema, max_tokens=48)
    assert repaired.response_metadata["reused_prefix_tokens"] > other_round.response_metadata["reused_prefix_tokens"]
    fresh.forget_prefixes()
    assert fresh.invoke(repair, json_schema=schema, max_tokens=48).content == repaired.content
    sampled = chat.invoke(questions[1], temperature=1.0, seed=3, max_tokens=12)
    assert sampled.response_metadata["reused_prefix_tokens"] == 0
    assert sampled.content == fresh.invoke(questions[1], temperature=1.0, seed=3, max_tokens=12).content


@pytest.mark.slow
def test_a_longer_prompt_after_a_kept_system_prompt_reuses_it(chat: OrtGenAIChatModel) -> None:
    """A kept generator has room beyond its own prompt: a later prompt with the same system
    prompt and a question several hundred tokens longer (past the next 1024-token step) still
    starts from it, and answers as a fresh generator does."""
    from langchain_core.messages import SystemMessage

    system = SystemMessage(content="You describe videos from their text in one short sentence.")
    long_text = " ".join(f"Frame {i}: a rabbit in a green meadow, mid-key lighting, warm tones." for i in range(60))
    chat.forget_prefixes()
    short = chat.invoke([system, HumanMessage(content="Title: A cat on a sofa")], max_tokens=16)
    longer = [system, HumanMessage(content=f"Title: Big Buck Bunny\n{long_text}")]
    answer = chat.invoke(longer, max_tokens=16)
    assert short.usage_metadata["input_tokens"] + 16 < 1024 < answer.usage_metadata["input_tokens"] + 16 - 100
    assert answer.response_metadata["reused_prefix_tokens"] > 10  # the system prompt, not read again
    chat.forget_prefixes()
    assert chat.invoke(longer, max_tokens=16).content == answer.content


def test_errors_are_one_clear_line(tmp_path: Path, chat: OrtGenAIChatModel) -> None:
    with pytest.raises(ConfigError, match="no ONNX model folder at .*genai_config.json"):
        load_ortgenai_chat(str(tmp_path / "missing"))
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text("{}")  # a transformers folder is not an ONNX one
    with pytest.raises(ConfigError, match="onnxruntime_genai.models.builder"):
        load_ortgenai_chat(str(tmp_path / "hf"))
    with pytest.raises(ConfigError, match="has no ONNX form"):
        load_ortgenai_chat("bundled:smollm2-135m-instruct-gguf")
    with pytest.raises(ConfigError, match="unknown bundled model"):
        load_ortgenai_chat("bundled:no-such-model")
    with pytest.raises(TypeError, match="does not accept top_q"):
        chat.invoke("hi", top_q=0.5)
    with pytest.raises(ValueError, match="exceeds the model's context"):
        chat.invoke("hi", max_tokens=10**6)


def test_backend_is_registered_and_built_from_a_config() -> None:
    cfg = LLMConfig(backend="onnx", model="bundled:qwen2.5-0.5b-instruct", max_tokens=7, temperature=0.5, seed=3)
    assert cfg.spec.schema_option == "json_schema" and not cfg.spec.can_score and not cfg.spec.remote
    chat = from_config(cfg)
    assert (chat.max_tokens, chat.temperature, chat.seed) == (7, 0.5, 3)
    assert chat.threads is None  # every core the process may use
