"""The hallucination audit as tables: one row per claim, rates per claim type with intervals.

* **claim precision** — supported / verifiable (supported + contradicted);
* **hallucination rate** — contradicted / verifiable, per claim type and overall;
* **object hallucination (CHAIR)** — object claims naming an object absent from every
  sampled frame's detections, over the object claims checked (CHAIR_i per claim), per item
  and per run.

* **students** — the film students compared on the same clips (``compare_students``).

Unverifiable claims (interpretations included) are counted and shown, never in a rate's
denominator. Intervals are bootstrap 95 % percentile intervals over claims
(``analysis.metrics.mean``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import metrics

CLAIM_COLUMNS = ["item_id", "target", "source", "student", "type", "verdict", "claim", "reason", "evidence", "start", "end"]


def claims_table(records: Iterable[Any]) -> pd.DataFrame:
    """One row per audited claim of ``records`` (``AuditRecord`` objects or their dicts)."""
    rows = []
    for record in records:
        r = record if isinstance(record, dict) else record.model_dump(mode="json")
        for c in r["claims"]:
            student = c["source"].split("[", 1)[1].rstrip("]") if c["source"].startswith("analyse_film.") else None
            rows.append({"item_id": r["item_id"], "target": c["source"].split("[", 1)[0], "source": c["source"],
                         "student": student, "type": c["type"],
                         "verdict": c["verdict"], "claim": c["text"], "reason": c["reason"],
                         "evidence": "; ".join(f"{e['stage']}.{e['field']} = {e['value']}"
                                               + (f" at {e['time_s']:.1f} s" if e.get("time_s") is not None else "")
                                               for e in c["evidence"]),
                         "start": c["start"], "end": c["end"]})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def run_claims(run: Any) -> pd.DataFrame:
    """The claims table (:func:`claims_table`) of a loaded run's ``audit_claims`` records; empty
    when the run has none (audit it with the stage in its config, or see ``m2t audit RUN``)."""
    if "audit_claims" not in run.stages:
        return pd.DataFrame(columns=CLAIM_COLUMNS)
    return claims_table(run["audit_claims"].to_dict("records"))


def _rate(flags: list[bool], name: str) -> metrics.Estimate | None:
    return metrics.mean([float(f) for f in flags], name) if flags else None


def rates(table: pd.DataFrame, by: str = "type") -> pd.DataFrame:
    """Per value of ``by`` (claim ``type``, ``target`` text, ``student`` …) and overall: claims, verdict counts,
    claim precision and hallucination rate with their intervals."""
    rows = []
    groups = [(str(k), g) for k, g in table.groupby(by, sort=True)] if len(table) else []
    for key, part in [*groups, ("all", table)]:
        verifiable = part[part.verdict != "unverifiable"]
        precision = _rate(list(verifiable.verdict == "supported"), "claim precision")
        hallucination = _rate(list(verifiable.verdict == "contradicted"), "hallucination rate")
        rows.append({by: key, "claims": len(part), "supported": int((part.verdict == "supported").sum()),
                     "contradicted": int((part.verdict == "contradicted").sum()),
                     "unverifiable": int((part.verdict == "unverifiable").sum()),
                     "precision": None if precision is None else precision.value,
                     "precision_ci": None if precision is None else (round(precision.low, 3), round(precision.high, 3)),
                     "hallucination": None if hallucination is None else hallucination.value,
                     "hallucination_ci": None if hallucination is None else (round(hallucination.low, 3),
                                                                             round(hallucination.high, 3))})
    return pd.DataFrame(rows)


def chair(table: pd.DataFrame) -> pd.DataFrame:
    """Object hallucination per item and for the run: contradicted object claims over the
    object claims checked (CHAIR_i)."""
    objects = table[(table.type == "object") & (table.verdict != "unverifiable")]
    rows = [{"item_id": item_id, "object_claims": len(part), "absent": int((part.verdict == "contradicted").sum()),
             "chair": float((part.verdict == "contradicted").mean())} for item_id, part in objects.groupby("item_id")]
    estimate = _rate(list(objects.verdict == "contradicted"), "CHAIR")
    rows.append({"item_id": "all", "object_claims": len(objects), "absent": int((objects.verdict == "contradicted").sum()),
                 "chair": None if estimate is None else estimate.value})
    return pd.DataFrame(rows)


def _per_clip_rate(part: pd.DataFrame) -> pd.Series:
    verifiable = part[part.verdict != "unverifiable"]
    return (verifiable.verdict == "contradicted").groupby(verifiable.item_id).mean()


def compare_students(table: pd.DataFrame) -> pd.DataFrame:
    """The film students side by side on the clips they all wrote an analysis for: per student
    claims, claim precision, hallucination rate and CHAIR with their intervals; then, for each
    other student against the first, the paired per-clip difference in hallucination rate
    (mean over the clips where both made verifiable claims, bootstrap interval) — the students
    are each other's baseline. Empty when the table holds fewer than two students."""
    analyses = table[table.student.notna()]
    students = sorted(analyses.student.unique())
    if len(students) < 2:
        return pd.DataFrame()
    shared = set.intersection(*(set(analyses[analyses.student == s].item_id) for s in students))
    analyses = analyses[analyses.item_id.isin(shared)]
    rows: list[dict[str, Any]] = []
    for student in students:
        part = analyses[analyses.student == student]
        verifiable = part[part.verdict != "unverifiable"]
        objects = verifiable[verifiable.type == "object"]
        row: dict[str, Any] = {"student": student, "clips": len(shared), "claims": len(part),
                               "verifiable": len(verifiable)}
        for name, flags in (("precision", verifiable.verdict == "supported"),
                            ("hallucination", verifiable.verdict == "contradicted"),
                            ("chair", objects.verdict == "contradicted")):
            estimate = _rate(list(flags), name)
            row[name] = None if estimate is None else estimate.value
            row[f"{name}_ci"] = None if estimate is None else (round(estimate.low, 3), round(estimate.high, 3))
        rows.append(row)
    first = _per_clip_rate(analyses[analyses.student == students[0]])
    for other in students[1:]:
        rates_other = _per_clip_rate(analyses[analyses.student == other])
        both = first.index.intersection(rates_other.index)
        diff = _rate(list(rates_other[both] - first[both]), "hallucination difference")
        rows.append({"student": f"{other} − {students[0]} (paired)", "clips": len(both),
                     "hallucination": None if diff is None else diff.value,
                     "hallucination_ci": None if diff is None else (round(diff.low, 3), round(diff.high, 3))})
    return pd.DataFrame(rows)


def write_sheet(table: pd.DataFrame, path: Path) -> Path:
    """The claims as a CSV sheet for people: one row per claim, the automatic verdict and its
    evidence, and an empty ``human_verdict`` column (supported / contradicted / unverifiable)."""
    sheet = table.assign(claim_id=[f"{i}:{s}:{a}" for i, s, a in zip(table.item_id, table.source, table.start)],
                         human_verdict="", human_note="")
    columns = ["claim_id", "item_id", "source", "type", "claim", "verdict", "reason", "evidence", "human_verdict",
               "human_note"]
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet[columns].to_csv(path, index=False)
    return path


VERDICTS = ("supported", "contradicted", "unverifiable")


def read_sheet(path: Path) -> pd.DataFrame:
    """A claims sheet (``write_sheet``) with people's verdicts filled in; rows without a human
    verdict are kept (``human_verdict`` empty) and left out of agreement."""
    sheet = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"claim_id", "type", "verdict", "human_verdict"} - set(sheet.columns)
    if missing:
        raise ValueError(f"{path.name} lacks the columns {', '.join(sorted(missing))} (write it with `m2t audit RUN`)")
    sheet["human_verdict"] = sheet.human_verdict.str.strip().str.casefold()
    bad = sorted(set(sheet.human_verdict) - {"", *VERDICTS})
    if bad:
        raise ValueError(f"{path.name}: human_verdict must be one of {', '.join(VERDICTS)} (or empty); found "
                         + ", ".join(map(repr, bad[:5])))
    return sheet


def human_agreement(sheet: pd.DataFrame) -> tuple[float, pd.DataFrame, pd.DataFrame]:
    """Cohen's κ between people's and the automatic verdicts (scikit-learn), the confusion
    table (rows: human, columns: automatic) and, per claim type, n, the share of equal
    verdicts and κ (NaN where one side used a single verdict only)."""
    from sklearn.metrics import cohen_kappa_score

    rated = sheet[sheet.human_verdict != ""]
    if rated.empty:
        raise ValueError("no row has a human_verdict")
    kappa = float(cohen_kappa_score(rated.human_verdict, rated.verdict, labels=list(VERDICTS)))
    confusion = pd.crosstab(pd.Categorical(rated.human_verdict, categories=VERDICTS),
                            pd.Categorical(rated.verdict, categories=VERDICTS), rownames=["human"],
                            colnames=["automatic"], dropna=False)
    rows = []
    for kind, part in rated.groupby("type", sort=True):
        single = part.human_verdict.nunique() < 2 and part.verdict.nunique() < 2
        rows.append({"type": kind, "n": len(part), "agreement": float((part.human_verdict == part.verdict).mean()),
                     "kappa": float("nan") if single else float(cohen_kappa_score(part.human_verdict, part.verdict,
                                                                                   labels=list(VERDICTS)))})
    return kappa, confusion, pd.DataFrame(rows, columns=["type", "n", "agreement", "kappa"])
