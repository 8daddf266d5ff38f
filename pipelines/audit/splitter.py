"""Claims split by an LLM, each placed back in the text it came from.

The model is asked (``prompts/common/audit_split.md``, a JSON schema) for the text's atomic
claims in the text's own words. A model may still paraphrase, merge or invent, so each claim
it returns is placed in the source before it is audited:

1. found verbatim (case and spacing ignored) → its own span;
2. else the sentence (pysbd) sharing the most of its content words, when that is at least
   :data:`MIN_OVERLAP` of them → the claim keeps the model's words and the sentence's span;
3. else it is not in the text: left out, and counted (``invented``) in the record.

A sentence that orders events ("first …, then …", "before", "after") is kept whole, as the
sentence splitter cuts it: a model that cuts it loses the order, which is the claim. No part
of the text goes unaudited because the model skipped it: every clause of the
sentence splitter (``claims.split_claims``) that no placed claim overlaps is audited as well. A reply
that is not the schema's JSON gives the sentence splitter's claims for the whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipelines.audit.checks import ordered
from pipelines.audit.claims import Claim, claim_type, spans_of_sentences, split_claims

MIN_OVERLAP = 0.6
MAX_CLAIMS = 24
PROMPT = "common/audit_split"


def split_schema() -> dict[str, Any]:
    claim = {"type": "object", "properties": {"text": {"type": "string", "minLength": 3, "maxLength": 240}},
             "required": ["text"]}
    return {"type": "object", "properties": {"claims": {"type": "array", "items": claim, "minItems": 1,
                                                        "maxItems": MAX_CLAIMS}}, "required": ["claims"]}


def split_messages(text: str) -> list[tuple[str, str]]:
    from pipelines.prompts import load_prompt

    return load_prompt(PROMPT).messages(text=text)


@dataclass(frozen=True)
class Split:
    claims: list[Claim]
    how: str  # llm | sentences (llm reply unreadable) ...
    invented: list[str]  # the model's claims found nowhere in the text


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.casefold())


def _content(text: str) -> set[str]:
    from pipelines.hypotheses import content_words

    return content_words(text)


def _verbatim(claim: str, text: str) -> tuple[int, int] | None:
    """The span of ``claim`` in ``text``, ignoring case and runs of spaces."""
    words = claim.split()
    if not words:
        return None
    pattern = r"\s+".join(re.escape(w) for w in words)
    match = re.search(pattern, text, flags=re.IGNORECASE)
    return (match.start(), match.end()) if match else None


def place_claims(answers: list[str], text: str) -> Split:
    """The model's ``answers`` placed in ``text`` (module doc), plus the sentence splitter's
    clauses that none of them overlaps; in text order."""
    sentences = spans_of_sentences(text)
    placed: list[Claim] = []
    invented: list[str] = []
    for answer in dict.fromkeys(" ".join(a.split()) for a in answers if a.strip()):
        span = _verbatim(answer, text)
        if span is None:
            own = _content(answer)
            best = max(sentences, key=lambda s: len(own & _content(text[s[0]:s[1]])), default=None)
            if best is not None and own and len(own & _content(text[best[0]:best[1]])) / len(own) >= MIN_OVERLAP:
                span = best
        if span is None:
            invented.append(answer)
            continue
        placed.append(Claim(answer, span[0], span[1], claim_type(answer)))
    whole = [(start, end) for start, end in sentences if ordered(text[start:end])]
    placed = [c for c in placed if not any(start <= c.start < end for start, end in whole)]
    model_placed = list(placed)
    for clause in split_claims(text):
        if not any(c.start < clause.end and clause.start < c.end for c in model_placed):
            placed.append(clause)
    placed.sort(key=lambda c: (c.start, c.end))
    return Split(placed, "llm", invented)


def read_split(reply: str, text: str) -> Split:
    """The claims of ``text`` from the model's ``reply``; the sentence splitter's when the reply
    holds no claims."""
    from pipelines.models.structured import json_objects

    for obj in reversed(json_objects(reply)):
        items = obj.get("claims")
        if isinstance(items, list):
            answers = [str(c.get("text", "")) if isinstance(c, dict) else str(c) for c in items]
            if any(a.strip() for a in answers):
                return place_claims(answers, text)
    return Split(split_claims(text), "sentences (the model's reply held no claims)", [])
