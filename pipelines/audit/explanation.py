"""An explanation checked before its prediction is kept: the audit's own rules, at predict time.

A small model explaining a prediction readily describes a neighbour or a hypothesis instead of
its own video ("The video shows horse sketches with no audio track", said of a rocket launch).
The audit finds that afterwards; predict asks before keeping the answer. The check is the
audit's: the explanation is cut into claims by sentences and clauses (``claims.split_claims``)
and each claim gets its verdict from ``checks.audited_claim`` against ``checks.video_evidence``
— the code and the evidence the ``audit_claims`` stage uses — so a claim predict sends back is
one the audit would count, and no second checker can drift from the first. No model is called
(``audit_claims`` may also cut explanations with an LLM: its claims can differ a little).

A claim is *flagged* when its verdict is one the audit's rates count as a hallucination
(``checks.HALLUCINATED``: contradicted, or unsupported content). The share of verifiable claims
(supported, contradicted or unsupported over all) is kept beside it, so an explanation that
avoids every flag by saying nothing checkable shows as such.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from pipelines.audit.checks import VideoEvidence, audited_claim
from pipelines.audit.claims import split_claims
from pipelines.audit.verdicts import HALLUCINATED, VERDICTS
from pipelines.records import ExplanationCheck

SOURCE = "predict.explanation"
REASON_CHARS = 240  # a verdict's reason as a repair request quotes it


def verifiable_share(counts: dict[str, int]) -> float | None:
    """(supported + contradicted + unsupported) / claims; None without claims."""
    total = sum(counts.values())
    return None if not total else round(sum(counts.get(v, 0) for v in VERDICTS if v != "unverifiable") / total, 4)


def check_explanation(text: str, evidence: VideoEvidence) -> ExplanationCheck:
    """The rule verdicts of ``text``'s claims against ``evidence`` (module doc)."""
    claims = [audited_claim(SOURCE, claim, evidence) for claim in split_claims(text)]
    seen = Counter(c.verdict for c in claims)
    counts = {v: seen.get(v, 0) for v in VERDICTS}
    return ExplanationCheck(counts=counts, verifiable_share=verifiable_share(counts),
                            flagged=[c for c in claims if c.verdict in HALLUCINATED])


def named_claims(check: ExplanationCheck) -> list[dict[str, str]]:
    """What a repair request says of each flagged claim: its words, its verdict and the
    reason (cut on a word boundary)."""
    from pipelines.budget import cut_words

    return [{"text": c.text, "verdict": c.verdict, "reason": cut_words(" ".join(c.reason.split()), REASON_CHARS)}
            for c in check.flagged]


def summary_line(records: Iterable[Any]) -> str | None:
    """One line for the end of ``m2t run`` about the explanations predict checked: how many
    were sent back, how many repairs were kept, how many are still flagged, and the verifiable
    and flagged shares of their claims before the repairs and as kept. None when nothing was
    checked."""
    checked = [r for r in records if getattr(r, "explanation_check", None) is not None]
    if not checked:
        return None
    sent = [r for r in checked if r.repairs]
    kept = sum(any(x.kept for x in r.repairs) for r in sent)
    flagged = sum(r.explanation_flagged for r in checked)

    def shares(checks: list[ExplanationCheck]) -> str:
        counts: Counter[str] = Counter()
        for c in checks:
            counts.update(c.counts)
        verifiable = sum(counts[v] for v in VERDICTS if v != "unverifiable")
        total = sum(counts.values())
        bad = sum(counts[v] for v in HALLUCINATED)
        return (f"verifiable {verifiable}/{total} claims ({verifiable / total:.0%}), contradicted or unsupported "
                f"{bad}/{verifiable} of those ({bad / verifiable:.0%})" if verifiable else
                f"verifiable 0/{total} claims")

    first = [r.first_answer.check if r.first_answer is not None else r.explanation_check for r in checked]
    line = (f"explanations checked before they were kept: {len(checked)}, {len(sent)} sent back with their "
            f"contradicted or unsupported claims named, {kept} repairs kept, {flagged} still flagged")
    if sent:
        line += f"; first answers: {shares(first)}; as kept: {shares([r.explanation_check for r in checked])}"
    else:
        line += f"; {shares(first)}"
    return line
