"""The claims sheet people fill in: one run's, keyed by a claim id that stays the same from one
write to the next, merged rather than overwritten (every human column kept, claims no longer
produced kept and marked stale), and refused when it is another run's or mixes runs. `m2t
audit` on a real run: tests/analysis/test_runs_cli.py."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.audit import SheetError, claim_ids, claims_table, human_verdicts, read_sheet, sheet_run, write_sheet


def _record(item_id: str, claims: list[tuple[str, int, int, str]]) -> dict:
    return {"item_id": item_id, "claims": [
        {"source": source, "text": text, "start": start, "end": start + len(text), "type": "object",
         "verdict": verdict, "reason": "r", "evidence": []} for source, start, text, verdict in claims]}


RECORDS = [
    _record("a", [("predict.explanation", 0, "A cup on a table.", "supported"),
                  ("predict.explanation", 18, "A dog barks.", "contradicted")]),
    _record("b", [("describe_frames.descriptions[0]", 0, "A man walks.", "unverifiable"),
                  ("describe_frames.descriptions[1]", 0, "A man walks.", "unverifiable")]),
]


def _fill(path: Path, verdicts: dict[str, str]) -> pd.DataFrame:
    sheet = pd.read_csv(path, dtype=str, keep_default_na=False)
    sheet["human_verdict"] = [verdicts.get(c, "") for c in sheet.claim_id]
    sheet["human_note"] = ["checked" if c in verdicts else "" for c in sheet.claim_id]
    sheet["reviewer"] = "ana"  # a column a person added
    sheet.to_csv(path, index=False)
    return sheet


def test_claim_ids_are_stable_and_unique():
    table = claims_table(RECORDS, run_id="r1")
    ids = claim_ids(table)
    assert ids[0] == "a:predict.explanation:0-17" and len(set(ids)) == len(ids)
    assert claim_ids(claims_table(RECORDS, run_id="r1")) == ids
    twice = claims_table([_record("a", [("predict.explanation", 0, "A cup.", "supported"),
                                        ("predict.explanation", 0, "A cup.", "contradicted")])])
    assert claim_ids(twice) == ["a:predict.explanation:0-6", "a:predict.explanation:0-6#2"]


def test_writing_again_keeps_every_human_column(tmp_path: Path):
    path = write_sheet(claims_table(RECORDS, run_id="r1"), tmp_path / "claims.csv")
    first = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert set(first.run_id) == {"r1"} and set(first.status) == {"current"} and set(first.human_verdict) == {""}
    verdicts = dict(zip(first.claim_id, ["supported", "supported", "unverifiable", "contradicted"]))
    _fill(path, verdicts)
    write_sheet(claims_table(RECORDS, run_id="r1"), path)
    again = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert dict(zip(again.claim_id, again.human_verdict)) == verdicts
    assert set(again.human_note) == {"checked"} and set(again.reviewer) == {"ana"}
    assert list(again.claim_id) == list(first.claim_id) and human_verdicts(path) == {"current": 4}


def test_claims_no_longer_produced_stay_marked_stale(tmp_path: Path):
    path = write_sheet(claims_table(RECORDS, run_id="r1"), tmp_path / "claims.csv")
    ids = list(pd.read_csv(path, dtype=str).claim_id)
    _fill(path, {ids[1]: "contradicted", ids[2]: "unverifiable"})
    fewer = [RECORDS[0], _record("b", [("describe_frames.descriptions[0]", 0, "A man runs.", "supported")])]
    write_sheet(claims_table(fewer, run_id="r1"), path)
    sheet = pd.read_csv(path, dtype=str, keep_default_na=False).set_index("claim_id")
    assert sheet.loc[ids[1], "status"] == "current" and sheet.loc[ids[1], "human_verdict"] == "contradicted"
    assert sheet.loc[ids[2], "status"] == "stale" and sheet.loc[ids[2], "human_verdict"] == "unverifiable"
    assert sheet.loc[ids[3], "status"] == "stale"  # nothing dropped, even without a verdict
    assert sheet.loc["b:describe_frames.descriptions[0]:0-11", "status"] == "current"
    assert human_verdicts(path) == {"current": 1, "stale": 1}
    assert set(read_sheet(path).status) == {"current", "stale"}


def test_another_runs_sheet_is_left_untouched(tmp_path: Path):
    path = write_sheet(claims_table(RECORDS, run_id="r1"), tmp_path / "claims.csv")
    before = path.read_bytes()
    with pytest.raises(SheetError, match=r"claims\.csv holds the claims of run r1, not of run r2"):
        write_sheet(claims_table(RECORDS, run_id="r2"), path)
    assert path.read_bytes() == before
    path.write_text("claim_id,human_verdict\n\"unclosed,x\n")
    with pytest.raises(SheetError, match="not a readable claims sheet"):
        write_sheet(claims_table(RECORDS, run_id="r1"), path)
    assert path.read_text() == "claim_id,human_verdict\n\"unclosed,x\n"


def test_a_sheet_from_before_run_ids_is_matched_by_claim_text(tmp_path: Path):
    table = claims_table(RECORDS)
    legacy = table.assign(claim_id=[f"{i}:{s}:{a}" for i, s, a in zip(table.item_id, table.source, table.start)],
                          human_verdict=["supported", "", "", "unverifiable"], human_note="")
    path = tmp_path / "claims.csv"
    legacy[["claim_id", "item_id", "source", "type", "claim", "verdict", "reason", "evidence", "human_verdict",
            "human_note"]].to_csv(path, index=False)
    write_sheet(claims_table(RECORDS, run_id="r1"), path)
    sheet = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert set(sheet.run_id) == {"r1"} and set(sheet.status) == {"current"} and len(sheet) == 4
    assert list(sheet.human_verdict) == ["supported", "", "", "unverifiable"]


def test_the_run_of_a_sheet_is_checked(tmp_path: Path):
    path = write_sheet(claims_table(RECORDS, run_id="r1"), tmp_path / "claims.csv")
    sheet = read_sheet(path)
    assert sheet_run(sheet, path) == "r1" == sheet_run(sheet, path, "r1")
    with pytest.raises(SheetError, match="holds the claims of run r1, not of run r2") as refused:
        sheet_run(sheet, path, "r2")
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)
    mixed = pd.concat([sheet, sheet.assign(run_id="r2")])
    with pytest.raises(SheetError, match="mixes the claims of runs r1, r2"):
        sheet_run(mixed, path)
    with pytest.raises(SheetError, match="no run_id column"):
        sheet_run(sheet.drop(columns=["run_id"]), path)
    with pytest.raises(SheetError, match="several runs"):
        write_sheet(pd.concat([claims_table(RECORDS, run_id="r1"), claims_table(RECORDS, run_id="r2")]),
                    tmp_path / "mixed.csv")
