"""Fitting sectioned text into a budget (pipelines/budget.py): unit logic, plus the real
bundled LLM's tokenizer counting tokens."""

from __future__ import annotations

import re

from pipelines.budget import CUT_MARK, allocate, cut_words, fit_sections, token_counter
from pipelines.models.llm import LLMConfig
from pipelines.records import SummarySection


def test_cut_words_keeps_whole_words_and_marks_the_cut():
    text = "alpha beta gamma delta epsilon"
    assert cut_words(text, 100) == text
    cut = cut_words(text, 19)
    assert cut == "alpha beta" + CUT_MARK and len(cut) <= 19
    assert cut_words("x" * 50, 10).endswith(CUT_MARK) and len(cut_words("x" * 50, 10)) <= 10


def test_water_filling_gives_unused_share_to_long_sections():
    # a short section keeps all of its text; two long ones split the rest 1:3
    assert allocate([10, 1000, 1000], [1, 1, 3], 410) == [10, 100, 300]
    assert allocate([5, 5], [1, 1], 100) == [5, 5]


def test_every_section_survives_a_small_budget():
    parts = [SummarySection(name=n, heading=n.title(), text=("%s " % n) * 200, share=1.0)
             for n in ("frames", "onscreen_text", "speech")]
    text, cut = fit_sections(parts, 300)
    assert len(text) <= 300 and cut == ["frames", "onscreen_text", "speech"]
    assert all(re.search(rf"{n.title()}:\s{n} ", text) for n in ("frames", "onscreen_text", "speech"))


def test_tokens_are_counted_with_the_local_llms_tokenizer():
    measure, source = token_counter(LLMConfig(backend="local", model="bundled:smollm2-135m-instruct"))
    assert source.endswith("tokenizer.json")
    n = measure("The astronaut waves to the crowd before the rocket launch.")
    assert 8 <= n <= 16  # BPE tokens, not characters (58) nor a chars/4 estimate rule
    remote, how = token_counter(LLMConfig(backend="openai", model="gpt-x"))
    assert how == "estimate" and remote("abcdefgh") == 2
