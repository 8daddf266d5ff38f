"""What an audit rule returns: a verdict on one claim and the evidence it rests on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Evidence:
    stage: str
    field: str
    value: Any
    time_s: float | None = None
    frame_index: int | None = None


@dataclass(frozen=True)
class Verdict:
    verdict: str  # supported | contradicted | unsupported | unverifiable
    reason: str
    evidence: list[Evidence] = field(default_factory=list)
    applies: bool = True  # false: the claim names nothing this rule checks (the verdict is then unverifiable)


VERDICTS = ("supported", "contradicted", "unsupported", "unverifiable")
HALLUCINATED = ("contradicted", "unsupported")  # the verdicts the audit's rates count as hallucinations
