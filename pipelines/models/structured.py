"""Reading structured answers out of model text: find the JSON object, validate it with
pydantic, say in one line what was wrong when it fails (the repair prompt quotes that line)."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from pipelines.tasks.base import TaskSpec

REFUSAL = re.compile(r"\b(I can(no|')t|I am (not able|unable)|I'm (not able|unable)|as an AI)\b", re.IGNORECASE)


class AnswerError(ValueError):
    """The model's text holds no usable answer; the message says why, in one line."""


def quoted_reply(reply: str, limit: int = 200) -> str:
    """The model's reply on one line, cut on a word boundary with a mark, for error records."""
    from pipelines.budget import cut_words

    return repr(cut_words(" ".join(reply.split()), limit)) if reply.strip() else "(empty)"


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object embedded in ``text``, in order (strings and nesting respected)."""
    found: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    i = 0
    while (start := text.find("{", i)) != -1:
        try:
            obj, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            i = start + 1
            continue
        if isinstance(obj, dict):
            found.append(obj)
        i = end
    return found


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "answer"
    return f"{where}: {err['msg']}"


class PredictionAnswer(BaseModel):
    label: str
    scale: int | None = None
    confidence: float | None = None
    explanation: str = ""
    hypotheses_used: list[int] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)
    partial: bool = Field(False, description="read from a JSON object cut off before its end")

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().rstrip("%")
            value = float(value) / 100 if value and float(value) > 1 else value
        if isinstance(value, (int, float)) and value > 1:
            value = value / 100
        return value

    @field_validator("hypotheses_used", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        if isinstance(value, (int, str)):
            value = [value]
        out = []
        for v in value or []:
            digits = re.findall(r"\d+", str(v))
            if digits:
                out.append(int(digits[0]))
        return out

    @field_validator("evidence", mode="before")
    @classmethod
    def _quotes(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def _unquote(body: str) -> str:
    """The value of a JSON string literal's body; raw newlines and bad escapes are tolerated."""
    try:
        return json.loads(f'"{body}"', strict=False)
    except json.JSONDecodeError:
        return body


def _string_field(text: str, key: str) -> str | None:
    match = re.search(rf'"{key}"\s*:\s*"((?:[^"\\]|\\.)*)"', text)
    return _unquote(match.group(1)) if match else None


def partial_prediction(text: str, task: TaskSpec) -> PredictionAnswer | None:
    """The fields of a JSON answer cut off before its end (the model ran out of tokens):
    a complete ``"label"`` string is enough; complete later fields are kept too."""
    if "{" not in text:
        return None
    label = task.normalise_label(_string_field(text, "label"))
    if label is None:
        return None
    confidence = re.search(r'"confidence"\s*:\s*([0-9.]+)\s*[,}]', text)
    cited = re.search(r'"hypotheses_used"\s*:\s*\[([0-9,\s]*)\]', text)
    answer = PredictionAnswer(label=label, explanation=_string_field(text, "explanation") or "",
                              confidence=confidence.group(1) if confidence else None,
                              hypotheses_used=re.findall(r"\d+", cited.group(1)) if cited else [])
    return answer if answer.confidence is None or 0 <= answer.confidence <= 1 else answer.model_copy(update={"confidence": None})


def parse_prediction(text: str, task: TaskSpec) -> PredictionAnswer:
    """The last JSON object in ``text`` that names a label of ``task`` (or a scale value).

    An object cut off by the token limit still counts when its label is complete; the
    answer's ``partial`` is then true.
    """
    if not text.strip():
        raise AnswerError("the answer was empty")
    objects = json_objects(text)
    if not objects:
        partial = partial_prediction(text, task)
        if partial is not None:
            partial.partial = True
            return partial
        if REFUSAL.search(text):
            raise AnswerError("the answer was a refusal, not a JSON object")
        raise AnswerError("the answer held no JSON object")
    problem = ""
    for obj in reversed(objects):
        raw_label = obj.get("label", obj.get("scale"))
        label = task.normalise_label(raw_label)
        if label is None:
            problem = f"label {raw_label!r} is not one of {', '.join(task.labels)}"
            continue
        try:
            answer = PredictionAnswer.model_validate({**obj, "label": label})
        except ValidationError as exc:
            problem = _first_error(exc)
            continue
        if answer.confidence is not None and not 0 <= answer.confidence <= 1:
            answer.confidence = None
        return answer
    raise AnswerError(problem)


def parse_hypotheses(text: str) -> tuple[list[str], str]:
    """Hypotheses from a JSON object ``{"hypotheses": [...]}``, else from numbered or bulleted
    lines; also says which of the two ways worked (``json`` / ``numbered_lines``)."""
    for obj in reversed(json_objects(text)):
        items = obj.get("hypotheses")
        if isinstance(items, list):
            texts = [str(h.get("text", "")) if isinstance(h, dict) else str(h) for h in items]
            texts = [t.strip() for t in texts if t.strip()]
            if texts:
                return texts, "json"
    start = text.find('"hypotheses"')
    if start >= 0:  # an array cut off by the token limit: its complete strings
        strings = [_unquote(m.group(1)).strip() for m in re.finditer(r'"((?:[^"\\]|\\.){8,})"', text[start + 12:])]
        strings = [t for t in strings if t]
        if strings:
            return strings, "partial_json"
    lines = [m.group(1).strip() for m in re.finditer(r"^\s*(?:\d+[.)]|[-*•])\s+(.{8,})$", text, flags=re.MULTILINE)]
    if lines:
        return lines, "numbered_lines"
    raise AnswerError("no hypotheses found (expected {\"hypotheses\": [...]} or numbered lines)")


def sentences(text: str, min_words: int = 4) -> list[str]:
    """Plain sentences of prose (no JSON fragments), the last resort for hypotheses."""
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip() for p in parts if len(p.split()) >= min_words and not re.search(r"[{}\[\]\"]{2,}|[{}]", p)]
