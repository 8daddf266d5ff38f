"""The hallucination audit as tables: one row per claim, rates per audited text with intervals.

A claim's verdict (``pipelines/stages/audit_claims.py``) is ``supported``, ``contradicted`` (a
measurement says otherwise), ``unsupported`` (a content claim — "the video shows / is about …"
— naming something found nowhere in the video's evidence) or ``unverifiable``. The rates:

* **verifiable** claims — supported + contradicted + unsupported;
* **claim precision** — supported / verifiable;
* **hallucination rate** — (contradicted + unsupported) / verifiable: the claims the video's
  own evidence contradicts or does not hold at all (the counts say which);
* **object hallucination (CHAIR)** — object claims naming an object absent from every
  sampled frame's detections, over the object claims checked (CHAIR_i per claim), per item
  and per run.

* **students** — the film students compared on the same clips (``compare_students``).

**Per audited text, never mixed.** Every rate is of one text (the ``text`` column): the
explanations (``predict.explanation``), each film student's analyses
(``analyse_film.analysis[text]``), the hypotheses, and the frame descriptions
(``describe_frames.descriptions``) — which the offline describer composes from the
measurements themselves, so they are true by construction and would lift any rate they were
mixed into: they come last, marked ``composed``. There is no row across texts.

Unverifiable claims (interpretations included) are counted and shown, never in a rate's
denominator. The claims of one video are not independent draws (a describer repeats one
sentence on every frame), so a rate's 95 % interval resamples whole videos (a cluster
bootstrap over ``item_id``), never narrower than the Wilson interval of the same counts, and
Wilson's alone for one video or a rate of 0 or 1 (``analysis.metrics.proportion``). A rate on
fewer than ``metrics.SMALL_N`` verifiable claims is marked ``small_n``.

The sheet for people (``write_sheet``) is one run's (a ``run_id`` column) and keyed by a
``claim_id`` that the same claim keeps from one ``m2t audit`` to the next. Writing it again
merges: every column a person filled or added is kept for the claims still produced, and the
claims no longer produced stay in the sheet, marked ``stale``; a sheet is never silently
overwritten.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import metrics
from pipelines.errors import first_line

CLAIM_COLUMNS = ["run_id", "item_id", "target", "text", "source", "student", "type", "verdict", "claim", "reason",
                 "evidence", "start", "end"]
VERDICTS = ("supported", "contradicted", "unsupported", "unverifiable")
HALLUCINATED = ("contradicted", "unsupported")
# texts composed from the measurements (the offline frame describer): true by construction, always apart
COMPOSED = ("describe_frames.descriptions",)


def text_of(source: str) -> str:
    """The audited text a claim's ``source`` belongs to: a film student's analysis keeps its
    student (``analyse_film.analysis[vlm]``); hypotheses and frame descriptions are one text each."""
    return source if source.startswith("analyse_film.") else source.split("[", 1)[0]


def _text_order(text: str) -> tuple[bool, str]:
    return text in COMPOSED, text
SHEET_COLUMNS = ["claim_id", "run_id", "item_id", "source", "type", "claim", "verdict", "reason", "evidence", "status"]
HUMAN_COLUMNS = ["human_verdict", "human_note"]
CURRENT, STALE = "current", "stale"


class SheetError(ValueError):
    """A claims sheet that cannot be merged or imported; the message names the file."""


def claims_table(records: Iterable[Any], run_id: str | None = None) -> pd.DataFrame:
    """One row per audited claim of ``records`` (``AuditRecord`` objects or their dicts). The
    ``run_id`` column is ``run_id``, else a record dict's own ``run_id`` key (records do not
    carry their run: the caller that read them says it), else empty."""
    rows = []
    for record in records:
        r = record if isinstance(record, dict) else record.model_dump(mode="json")
        for c in r["claims"]:
            student = c["source"].split("[", 1)[1].rstrip("]") if c["source"].startswith("analyse_film.") else None
            rows.append({"run_id": run_id or r.get("run_id") or "", "item_id": r["item_id"],
                         "target": c["source"].split("[", 1)[0], "text": text_of(c["source"]), "source": c["source"],
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
    return claims_table(run["audit_claims"].to_dict("records"), run_id=run.run_id)


def _rate(claims: pd.DataFrame, verdict: str | tuple[str, ...], name: str) -> metrics.Estimate | None:
    """The share of ``claims`` with ``verdict`` (one of several), its interval resampled by video
    (``item_id``); ``None`` without any claim (no estimate)."""
    if claims.empty:
        return None
    wanted = (verdict,) if isinstance(verdict, str) else verdict
    return metrics.proportion(list(claims.verdict.isin(wanted)), name, clusters=list(claims.item_id))


def _ci(estimate: metrics.Estimate | None) -> tuple[float, float] | None:
    return None if estimate is None else (round(estimate.low, 3), round(estimate.high, 3))


def _row(part: pd.DataFrame) -> dict[str, Any]:
    """Counts per verdict, claim precision and hallucination rate with their intervals."""
    verifiable = part[part.verdict != "unverifiable"]
    precision = _rate(verifiable, "supported", "claim precision")
    hallucination = _rate(verifiable, HALLUCINATED, "hallucination rate")
    return {"claims": len(part), **{v: int((part.verdict == v).sum()) for v in VERDICTS},
            "precision": None if precision is None else precision.value, "precision_ci": _ci(precision),
            "hallucination": None if hallucination is None else hallucination.value,
            "hallucination_ci": _ci(hallucination), "verifiable": len(verifiable),
            "small_n": len(verifiable) < metrics.SMALL_N}


def texts(table: pd.DataFrame) -> list[str]:
    """The audited texts of ``table``: the generated ones first, the composed frame descriptions last."""
    return sorted(set(table.text), key=_text_order) if len(table) else []


def rates(table: pd.DataFrame, by: str = "type") -> pd.DataFrame:
    """Claims, verdict counts (``supported``, ``contradicted``, ``unsupported``,
    ``unverifiable``), claim precision and hallucination rate (module doc) with their intervals,
    the verifiable claims they rest on and whether those are fewer than ``metrics.SMALL_N``
    (``small_n``) — per audited text (the ``text`` column, generated texts first; ``composed``
    marks the frame descriptions built from the measurements), never across texts.

    Args:
        table: :func:`claims_table`.
        by: ``type`` (or any claim column): per text, a row per value, then the text's ``all``
            row. ``target`` or ``text``: one row per text. ``student``: one row per film student,
            then the ``all`` row of the film analyses (one kind of text, whoever wrote it).
    """
    rows = []
    if by == "student":
        analyses = table[table.student.notna()]
        for student, group in analyses.groupby("student", sort=True):
            rows.append({"text": f"analyse_film.analysis[{student}]", "composed": False, by: str(student),
                         **_row(group)})
        if len(analyses):
            rows.append({"text": "analyse_film.analysis", "composed": False, by: "all", **_row(analyses)})
    for text in texts(table) if by != "student" else []:
        part = table[table.text == text]
        base = {"text": text, "composed": text in COMPOSED}
        if by in ("target", "text"):
            rows.append({**base, by: text, **_row(part)})
        else:
            for key, group in part.groupby(by, sort=True):
                rows.append({**base, by: str(key), **_row(group)})
            rows.append({**base, by: "all", **_row(part)})
    columns = ["text", by, "composed", "claims", *VERDICTS, "precision", "precision_ci", "hallucination",
               "hallucination_ci", "verifiable", "small_n"]
    return pd.DataFrame(rows, columns=list(dict.fromkeys(columns)))


def chair(table: pd.DataFrame) -> pd.DataFrame:
    """Object hallucination per text and item, and per text for the run (``item_id`` ``all``):
    contradicted object claims over the object claims checked (CHAIR_i), with the interval
    (``chair_ci``; the run's resampled by video) and whether it rests on fewer than
    ``metrics.SMALL_N`` claims."""
    objects = table[(table.type == "object") & (table.verdict != "unverifiable")]
    rows = []
    for text in texts(objects):
        of_text = objects[objects.text == text]
        parts = [(str(item_id), part) for item_id, part in of_text.groupby("item_id")] + [("all", of_text)]
        for item_id, part in parts:
            estimate = _rate(part, "contradicted", "CHAIR")
            rows.append({"text": text, "composed": text in COMPOSED, "item_id": item_id, "object_claims": len(part),
                         "absent": int((part.verdict == "contradicted").sum()),
                         "chair": None if estimate is None else estimate.value, "chair_ci": _ci(estimate),
                         "small_n": len(part) < metrics.SMALL_N})
    return pd.DataFrame(rows, columns=["text", "composed", "item_id", "object_claims", "absent", "chair", "chair_ci",
                                       "small_n"])


def _per_clip_rate(part: pd.DataFrame) -> pd.Series:
    verifiable = part[part.verdict != "unverifiable"]
    return verifiable.verdict.isin(HALLUCINATED).groupby(verifiable.item_id).mean()


def compare_students(table: pd.DataFrame) -> pd.DataFrame:
    """The film students side by side on the clips they all wrote an analysis for: per student
    claims, claim precision, hallucination rate and CHAIR with their intervals; then, for each
    other student against the first, the paired per-clip difference in hallucination rate
    (mean over the clips where both made verifiable claims, bootstrap interval; one clip, or
    equal differences, give the whole range ``[-1, 1]``) — the students are each other's
    baseline. ``small_n``: fewer than ``metrics.SMALL_N`` verifiable claims (clips, for the
    paired row; ``chair_small_n``: object claims). Empty when the table holds fewer than two students."""
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
                               "verifiable": len(verifiable), "small_n": len(verifiable) < metrics.SMALL_N}
        for name, claims, verdict in (("precision", verifiable, "supported"),
                                      ("hallucination", verifiable, HALLUCINATED),
                                      ("chair", objects, "contradicted")):
            estimate = _rate(claims, verdict, name)
            row[name] = None if estimate is None else estimate.value
            row[f"{name}_ci"] = _ci(estimate)
            row[f"{name}_small_n"] = estimate is not None and estimate.small_n
        rows.append(row)
    first = _per_clip_rate(analyses[analyses.student == students[0]])
    for other in students[1:]:
        rates_other = _per_clip_rate(analyses[analyses.student == other])
        both = first.index.intersection(rates_other.index)
        diffs = list(rates_other[both] - first[both])
        diff = metrics.mean(diffs, "hallucination difference", bounds=(-1.0, 1.0)) if diffs else None
        rows.append({"student": f"{other} − {students[0]} (paired)", "clips": len(both),
                     "hallucination": None if diff is None else diff.value, "hallucination_ci": _ci(diff),
                     "small_n": len(both) < metrics.SMALL_N})
    return pd.DataFrame(rows)


def claim_ids(table: pd.DataFrame) -> list[str]:
    """A stable id per claim of ``table``: ``item:source:start-end``, the claim's place in its
    text, which neither another ``m2t audit`` of the same run nor ``--by`` changes, and which
    a differently cut claim (another splitter) does not take over. Claims on the very same
    span get ``#2``, ``#3`` … in the order of their text, type and position in the table."""
    base = [f"{i}:{s}:{a}-{b}" for i, s, a, b in zip(table.item_id, table.source, table.start, table.end)]
    order = sorted(range(len(base)), key=lambda k: (base[k], str(table.claim.iloc[k]), str(table.type.iloc[k]), k))
    ids, seen = [""] * len(base), {}
    for k in order:
        seen[base[k]] = seen.get(base[k], 0) + 1
        ids[k] = base[k] if seen[base[k]] == 1 else f"{base[k]}#{seen[base[k]]}"
    return ids


def _read_csv(path: Path) -> pd.DataFrame:
    """A sheet as text cells (an empty cell stays ``""``; a spreadsheet's byte-order mark is
    dropped); a file that is not a readable CSV raises :class:`SheetError` naming it."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SheetError(f"{path}: not a readable claims sheet ({first_line(exc, limit=None)})") from exc


def _run_of(table: pd.DataFrame, run_id: str | None, path: Path) -> str:
    ids = sorted({str(r) for r in table.get("run_id", pd.Series(dtype=str)) if r})
    if run_id is None and len(ids) > 1:
        raise SheetError(f"{path}: the claims are of several runs ({', '.join(ids)}); a sheet is one run's")
    return run_id or (ids[0] if ids else "")


def _legacy_ids(old: pd.DataFrame, new: pd.DataFrame) -> pd.Series:
    """The ids of a sheet written before sheets named their run (``item:source:start``) in
    today's form, matched by item, source and claim text where that match is one to one."""
    if not {"item_id", "source", "claim"} <= set(old.columns):
        return old.claim_id
    keys_new = list(zip(new.item_id, new.source, new.claim))
    keys_old = list(zip(old.item_id, old.source, old.claim))
    count_new, count_old = Counter(keys_new), Counter(keys_old)
    unique = {k for k in keys_new if count_new[k] == 1 and count_old[k] == 1}
    by_key = {k: i for k, i in zip(keys_new, new.claim_id) if k in unique}
    return pd.Series([by_key.get(k, i) for k, i in zip(keys_old, old.claim_id)], index=old.index)


def merge_sheet(new: pd.DataFrame, old: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``new`` (this audit's sheet rows, human columns empty) merged with the sheet ``old`` at
    ``path``: for every claim still produced, each column of ``old`` that the tool does not
    write (``human_verdict``, ``human_note`` and any a person added) is kept; the automatic
    columns are this audit's. Claims of ``old`` no longer produced follow, as they were,
    marked ``status = stale``. Nothing a person wrote is dropped.

    Raises:
        SheetError: ``old`` lacks ``claim_id``, repeats a claim id, or is another run's.
    """
    if "claim_id" not in old.columns:
        raise SheetError(f"{path}: no claim_id column, so its rows cannot be matched to claims; it was left as it "
                         "is (move it away to start a new sheet)")
    run_id = _run_of(new, None, path)
    old_run = _run_of(old, None, path)
    if run_id and old_run and old_run != run_id:
        raise SheetError(f"{path} holds the claims of run {old_run}, not of run {run_id}; it was left as it is "
                         "(write this run's sheet elsewhere with --out)")
    old = old.copy()
    if "run_id" not in old.columns:
        old["claim_id"] = _legacy_ids(old, new)
    repeated = sorted(set(old.claim_id[old.claim_id.duplicated()]))
    if repeated:
        raise SheetError(f"{path}: claim_id {repeated[0]!r} is on {int((old.claim_id == repeated[0]).sum())} rows; "
                         "keep one row per claim, then run `m2t audit` again")
    human = HUMAN_COLUMNS + [c for c in old.columns if c not in SHEET_COLUMNS + HUMAN_COLUMNS]
    old = old.reindex(columns=list(dict.fromkeys([*old.columns, *SHEET_COLUMNS, *human])), fill_value="")
    kept = new[SHEET_COLUMNS].join(old.set_index("claim_id")[human], on="claim_id")
    kept[human] = kept[human].fillna("")
    gone = old[~old.claim_id.isin(set(new.claim_id))].assign(status=STALE)
    gone["run_id"] = gone["run_id"].where(gone["run_id"] != "", run_id)
    return pd.concat([kept, gone[SHEET_COLUMNS + human]], ignore_index=True)


def write_sheet(table: pd.DataFrame, path: Path, *, run_id: str | None = None) -> Path:
    """The claims as a CSV sheet for people: one row per claim (``claim_id``, ``run_id``, the
    automatic verdict and its evidence, ``status``) and the columns people fill in,
    ``human_verdict`` (supported / contradicted / unsupported / unverifiable) and ``human_note``.

    An existing sheet at ``path`` is merged, never overwritten (:func:`merge_sheet`); the file
    is replaced in one step, so an interrupted write leaves the old one whole.

    Args:
        table: :func:`claims_table` of one run.
        path: where the sheet goes.
        run_id: the run the claims are of; default: the table's ``run_id`` column.

    Raises:
        SheetError: the table holds several runs, or the sheet at ``path`` cannot be merged
            (it is then left untouched).
    """
    run_id = _run_of(table, run_id, path)
    sheet = table.assign(claim_id=claim_ids(table), run_id=run_id, status=CURRENT)
    sheet = sheet.reindex(columns=SHEET_COLUMNS + HUMAN_COLUMNS, fill_value="")
    if path.is_file():
        sheet = merge_sheet(sheet, _read_csv(path), path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    sheet.to_csv(partial, index=False)
    os.replace(partial, path)
    return path


def human_verdicts(path: Path) -> dict[str, int]:
    """How many human verdicts the sheet at ``path`` holds, per ``status`` (``current``,
    ``stale``): what ``m2t audit`` reports it kept."""
    sheet = _read_csv(path)
    if "human_verdict" not in sheet.columns:
        return {}
    filled = sheet[sheet.human_verdict.str.strip() != ""]
    status = filled.get("status", pd.Series(CURRENT, index=filled.index)).replace("", CURRENT)
    return {str(k): int(v) for k, v in status.value_counts().items()}


def read_sheet(path: Path) -> pd.DataFrame:
    """A claims sheet (``write_sheet``) with people's verdicts filled in; rows without a human
    verdict are kept (``human_verdict`` empty) and left out of agreement; ``status`` is
    ``current`` where a sheet has none. Every error names the file."""
    sheet = _read_csv(path)
    missing = {"claim_id", "type", "verdict", "human_verdict"} - set(sheet.columns)
    if missing:
        raise SheetError(f"{path} lacks the columns {', '.join(sorted(missing))} (write it with `m2t audit RUN`)")
    sheet["human_verdict"] = sheet.human_verdict.str.strip().str.casefold()
    sheet["status"] = sheet.get("status", pd.Series(CURRENT, index=sheet.index)).replace("", CURRENT)
    bad = sorted(set(sheet.human_verdict) - {"", *VERDICTS})
    if bad:
        raise SheetError(f"{path}: human_verdict must be one of {', '.join(VERDICTS)} (or empty); found "
                         + ", ".join(map(repr, bad[:5])))
    return sheet


def sheet_run(sheet: pd.DataFrame, path: Path, expected: str | None = None) -> str:
    """The one run whose claims ``sheet`` (read from ``path``) holds, checked against
    ``expected`` when given: agreement mixing two runs' claims, or measured on another run
    than meant, would be reported as if it were one run's.

    Raises:
        SheetError: no ``run_id`` column (a sheet from before sheets named their run), rows
            without a run id, several runs, or a run other than ``expected``.
    """
    if "run_id" not in sheet.columns:
        raise SheetError(f"{path} has no run_id column (written by an older m2t): put it at <run>/audit/claims.csv "
                         "and run `m2t audit RUN`, which adds the run id and keeps its verdicts")
    ids = sorted(set(sheet.run_id.str.strip()))
    if "" in ids:
        raise SheetError(f"{path}: {int((sheet.run_id.str.strip() == '').sum())} rows have no run_id; every row "
                         "must name the run its claim is of")
    if len(ids) > 1:
        raise SheetError(f"{path} mixes the claims of runs {', '.join(ids)}; import one run's sheet at a time")
    if not ids:
        raise SheetError(f"{path} holds no claims")
    if expected is not None and ids[0] != expected:
        raise SheetError(f"{path} holds the claims of run {ids[0]}, not of run {expected}")
    return ids[0]


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
