"""The audit's tables: rates with intervals, CHAIR, the human sheet and Cohen's kappa; and
`m2t audit` on a real run of a sample clip (rules only, no model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.proportion import proportion_confint

from analysis.audit import chair, claims_table, human_agreement, rates, read_sheet, write_sheet
from tests.conftest import ROOT, copy_sample, write_manifest


def _record(item_id: str, claims: list[tuple[str, str, str]]) -> dict:
    return {"item_id": item_id, "claims": [
        {"source": source, "text": f"claim {k}", "start": k, "end": k + 1, "type": kind, "verdict": verdict,
         "reason": "r", "evidence": [{"stage": "measure_visuals", "field": "f", "value": "v", "time_s": 1.0}]}
        for k, (source, kind, verdict) in enumerate(claims)]}


TABLE = claims_table([
    _record("a", [("predict.explanation", "object", "contradicted"), ("predict.explanation", "object", "supported"),
                  ("predict.explanation", "lighting", "supported"), ("predict.explanation", "interpretation",
                                                                     "unverifiable")]),
    _record("b", [("analyse_film.analysis[text]", "object", "supported"),
                  ("analyse_film.analysis[vlm]", "colour", "contradicted")]),
])


def test_rates_leave_unverifiable_claims_out_of_the_denominator():
    by_type = rates(TABLE).set_index(["text", "type"])
    explanation = by_type.loc["predict.explanation"]
    assert explanation.loc["object", "claims"] == 2 and explanation.loc["object", "precision"] == pytest.approx(1 / 2)
    assert explanation.loc["interpretation", "unverifiable"] == 1
    assert pd.isna(explanation.loc["interpretation", "precision"])
    assert explanation.loc["all", "hallucination"] == pytest.approx(1 / 3)
    low, high = explanation.loc["all", "hallucination_ci"]
    assert 0 <= low <= 1 / 3 <= high <= 1
    students = rates(TABLE, "student").set_index("student")
    assert students.loc["vlm", "contradicted"] == 1 and students.loc["text", "supported"] == 1
    assert students.loc["all", "claims"] == 2  # the film analyses of both students: one kind of text
    assert set(TABLE.target) == {"predict.explanation", "analyse_film.analysis"}


def test_rates_are_per_audited_text_with_the_composed_frame_descriptions_apart():
    """The frame descriptions are true by construction: mixed into one `all` row they would
    hide the explanations' rate. Each text has its own rows, the composed ones last; unsupported
    content counts as a hallucination."""
    table = claims_table([
        _record("a", [("describe_frames.descriptions[0.4 s]", "object", "supported")] * 18
                + [("predict.explanation", "content", "unsupported"), ("predict.explanation", "content", "supported"),
                   ("predict.explanation", "interpretation", "unverifiable"),
                   ("predict.explanation", "object", "contradicted")]),
        _record("b", [("analyse_film.analysis[text]", "content", "unsupported"),
                      ("analyse_film.analysis[vlm]", "colour", "supported")]),
    ])
    by_type = rates(table)
    assert list(dict.fromkeys(by_type.text)) == ["analyse_film.analysis[text]", "analyse_film.analysis[vlm]",
                                                 "predict.explanation", "describe_frames.descriptions"]
    assert list(by_type.composed) == [t == "describe_frames.descriptions" for t in by_type.text]
    rows = by_type.set_index(["text", "type"])
    explanation = rows.loc[("predict.explanation", "all")]
    assert (explanation.unsupported, explanation.contradicted, explanation.verifiable) == (1, 1, 3)
    assert explanation.hallucination == pytest.approx(2 / 3) and explanation.precision == pytest.approx(1 / 3)
    assert rows.loc[("describe_frames.descriptions", "all"), "precision"] == 1.0
    assert rows.loc[("analyse_film.analysis[text]", "all"), "hallucination"] == 1.0
    per_text = rates(table, "target").set_index("target")
    assert "all" not in per_text.index and len(per_text) == 4  # no row across texts
    assert per_text.loc["predict.explanation", "hallucination"] == pytest.approx(2 / 3)


def test_chair_per_text_item_and_run():
    table = chair(TABLE).set_index(["text", "item_id"])
    assert table.loc[("predict.explanation", "a"), "chair"] == pytest.approx(0.5)
    assert table.loc[("analyse_film.analysis[text]", "b"), "chair"] == 0
    assert table.loc[("predict.explanation", "all"), "object_claims"] == 2
    assert table.loc[("predict.explanation", "all"), "absent"] == 1


def test_kappa_equals_scikit_learn_on_a_fixed_sheet(tmp_path: Path):
    sheet = write_sheet(TABLE, tmp_path / "claims.csv")
    filled = pd.read_csv(sheet, dtype=str, keep_default_na=False)
    filled["human_verdict"] = ["contradicted", "supported", "contradicted", "unverifiable", "supported", ""]
    filled.to_csv(sheet, index=False)
    read = read_sheet(sheet)
    kappa, confusion, per_type = human_agreement(read)
    rated = read[read.human_verdict != ""]
    assert kappa == pytest.approx(cohen_kappa_score(rated.human_verdict, rated.verdict))
    assert int(confusion.to_numpy().sum()) == 5 and confusion.loc["contradicted", "supported"] == 1
    assert per_type.set_index("type").loc["object", "n"] == 3


def test_a_sheet_with_a_bad_verdict_is_refused(tmp_path: Path):
    sheet = write_sheet(TABLE, tmp_path / "claims.csv")
    filled = pd.read_csv(sheet, dtype=str, keep_default_na=False)
    filled.loc[0, "human_verdict"] = "maybe"
    filled.to_csv(sheet, index=False)
    with pytest.raises(ValueError, match="human_verdict must be one of"):
        read_sheet(sheet)


@pytest.mark.slow
def test_m2t_audit_on_a_real_run(tmp_path: Path):
    copy_sample("espresso.mp4", tmp_path / "data")
    row = next(json.loads(line) for line in (ROOT / "data/samples/manifest.jsonl").read_text().splitlines()
               if json.loads(line)["id"] == "espresso")
    manifest = write_manifest(tmp_path / "data", [row])
    config = tmp_path / "audit.yaml"
    config.write_text(json.dumps({"name": "audit-test", "task": "popularity", "dataset": {"path": str(manifest)},
                                  "stages": {"extract_frames": {"num_frames": 4}, "measure_visuals": {},
                                             "detect_objects": {}, "read_onscreen_text": {},
                                             "describe_frames": {}, "transcribe_audio": {}, "audit_claims": {}}}))

    def m2t(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=600)

    run = m2t("run", str(config), "--runs-dir", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"),
              "--run-id", "r1", "--no-progress")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    audited = m2t("audit", "r1", "--runs-dir", str(tmp_path / "runs"))
    assert audited.returncode == 0, audited.stderr
    assert "hallucination" in audited.stdout and "object" in audited.stdout
    sheet = tmp_path / "runs" / "r1" / "audit" / "claims.csv"
    rows = pd.read_csv(sheet, dtype=str, keep_default_na=False)
    assert len(rows) > 0 and set(rows.verdict) <= {"supported", "contradicted", "unsupported", "unverifiable"}
    assert (rows.source.str.startswith("describe_frames.descriptions")).all()
    rows["human_verdict"] = rows["verdict"]
    rows.to_csv(sheet, index=False)
    imported = m2t("audit", "import", str(sheet))
    assert imported.returncode == 0 and "kappa" in imported.stdout and "1.000" in imported.stdout


def test_students_compared_on_the_clips_both_answered():
    table = claims_table([
        _record("a", [("analyse_film.analysis[text]", "object", "contradicted"),
                      ("analyse_film.analysis[text]", "lighting", "supported"),
                      ("analyse_film.analysis[vlm]", "lighting", "supported")]),
        _record("b", [("analyse_film.analysis[text]", "colour", "supported"),
                      ("analyse_film.analysis[vlm]", "colour", "contradicted"),
                      ("analyse_film.analysis[vlm]", "object", "contradicted")]),
        _record("c", [("analyse_film.analysis[text]", "colour", "contradicted")]),  # vlm wrote nothing: left out
    ])
    from analysis.audit import compare_students

    compared = compare_students(table).set_index("student")
    assert compared.loc["text", "clips"] == 2 and compared.loc["text", "claims"] == 3
    assert compared.loc["text", "hallucination"] == pytest.approx(1 / 3)
    assert compared.loc["vlm", "hallucination"] == pytest.approx(2 / 3) and compared.loc["vlm", "chair"] == 1.0
    # per clip: text a 1/2, b 0; vlm a 0, b 1 -> differences -1/2 and +1, mean +1/4
    assert compared.loc["vlm − text (paired)", "hallucination"] == pytest.approx(0.25)
    assert compare_students(table[table.student == "text"]).empty


def test_overlapping_claims_are_all_shown_in_the_marked_text():
    from analysis.audit_report import segments

    text = "A cup on a table. Night falls."
    claims = [{"start": 0, "end": 17, "verdict": "supported", "text": "A cup"},
              {"start": 0, "end": 17, "verdict": "contradicted", "text": "a table"},
              {"start": 18, "end": 30, "verdict": "unverifiable", "text": "Night falls."}]
    pieces = segments(text, claims)
    marked = [p for p in pieces if p["claim"] is not None]
    assert [p["claim"]["text"] for p in marked] == ["A cup", "Night falls."]
    assert marked[0]["also"][0]["text"] == "a table" and marked[0]["verdict"] == "contradicted"
    assert "".join(p["text"] for p in pieces) == text
    shop = [{"start": 0, "end": 17, "verdict": "supported", "text": "A cup"},
            {"start": 0, "end": 17, "verdict": "unsupported", "text": "a shop"}]
    assert segments(text, shop)[0]["verdict"] == "unsupported"  # content found nowhere outranks the supported part


def test_a_sentence_repeated_on_every_frame_does_not_narrow_the_interval():
    """16/16 read `100% [100%, 100%]`; claims of one video are resampled together."""
    one_video = claims_table([_record("a", [(f"describe_frames.descriptions[{k}]", "object", "supported")
                                            for k in range(16)])])
    row = rates(one_video).set_index("type").loc["all"]  # one text
    assert row.precision == 1.0 and row.small_n and row.verifiable == 16
    assert row.precision_ci == pytest.approx(tuple(round(x, 3) for x in proportion_confint(16, 16, method="wilson")))
    assert row.precision_ci[0] < 1.0
    videos = claims_table([_record(v, [(f"describe_frames.descriptions[{k}]", "object", verdict) for k in range(10)])
                           for v, verdict in (("a", "supported"), ("b", "supported"), ("c", "contradicted"),
                                              ("d", "contradicted"))])
    low, high = rates(videos).set_index("type").loc["all", "hallucination_ci"]
    naive = proportion_confint(20, 40, method="wilson")  # as if the 40 claims were independent
    assert low < naive[0] and high > naive[1]


def test_chair_and_a_paired_difference_on_one_clip_have_intervals():
    run = chair(TABLE).set_index(["text", "item_id"]).loc[("predict.explanation", "all")]
    low, high = run.chair_ci
    assert low < 1 / 2 < high and run.small_n
    table = claims_table([_record("a", [("analyse_film.analysis[text]", "colour", "supported"),
                                        ("analyse_film.analysis[vlm]", "colour", "contradicted")])])
    from analysis.audit import compare_students

    paired = compare_students(table).set_index("student").loc["vlm − text (paired)"]
    assert paired.hallucination == 1.0 and paired.hallucination_ci == (-1.0, 1.0) and paired.small_n
