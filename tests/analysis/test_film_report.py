"""The film exam in the report: its tables' numbers on a run made of known records (three
clips, two students, a train clip for the baselines, grades and audited claims) checked
against scikit-learn and statsmodels, the CSV files beside the HTML, the escaping; then
`m2t report` on a real film run (generated clips with annotated shots, the bundled SmolLM2 as
the text student and the teacher, a tiny random LLaVA as the vlm student, the rule audit).

``built_film_report`` is shared with test_report_browser.py, so the real run is made once per
session."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from analysis.load import RunData, items_frame, records_frame
from tests.conftest import ROOT

HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>'
PROVENANCE = {"stage_version": 1, "key": "k", "input_hash": "i", "config_hash": "c"}
STUDENTS = {"text": "bundled:smollm2-135m-instruct", "vlm": "tiny-llava"}


def _shot(start: float, end: float, scale: str | None, movement: str | None) -> dict[str, Any]:
    return {"start_s": start, "end_s": end, "shot_scale": scale, "camera_movement": movement}


# gold: genres, budget band, annotated shots (None: not annotated); t is a train clip
GOLD = {
    "a": (["Drama", "history"], "mid", [_shot(0, 2, "close-up", "static"), _shot(2, 4, "long", "pan right")]),
    "b": (["documentary"], "low", [_shot(0, 3, "medium", "static")]),
    "c": (["comedy", "drama"], "High", [_shot(0, 2, "full", "static"), _shot(2, 4, None, "zoom in")]),
    "t": (["drama"], "low", [_shot(0, 2, "close-up", "static")]),
}
# measured shots of the examined clips (asked about in the exam)
MEASURED = {"a": [("close-up", "static"), (None, "pan right")], "b": [("medium", "static")],
            "c": [("full", "static"), ("long", "zoom in")]}
SPANS = {"a": [(0, 2), (2, 4)], "b": [(0, 3)], "c": [(0, 2), (2, 4)]}
# answers: genres, budget, per shot (scale, movement); None: an unreadable answer
ANSWERS = {
    ("a", "text"): (["drama"], "mid", [("close-up", "static"), ("long", "pan left")]),
    ("b", "text"): (["documentary", "history"], "low", [("medium", "static")]),
    ("c", "text"): (["comedy"], "mid", [("medium", "static"), ("long", "zoom in")]),
    ("a", "vlm"): None,
    ("b", "vlm"): (["drama"], "low", [("close-up", "static")]),
    ("c", "vlm"): (["comedy", "drama"], "high", [("full", "static"), (None, "static")]),
}
# the teacher's marks: observations, evidence, interpretation, overall
MARKS = {("a", "text"): (3, 4, 2, 3), ("b", "text"): (5, 4, 4, 4), ("c", "text"): (2, 2, 1, 2),
         ("b", "vlm"): (1, 1, 1, 1), ("c", "vlm"): (4, 4, 3, 4)}
# audited claims of each analysis: verdicts
CLAIMS = {("a", "text"): ["supported", "supported", "contradicted", "unverifiable"], ("b", "text"): ["supported"],
          ("c", "text"): ["contradicted"], ("b", "vlm"): ["supported", "contradicted"],
          ("c", "vlm"): ["supported", "supported"]}


def known_run(tmp: Path) -> RunData:
    """A film run made of the records above, loaded as load_run would give it."""
    from pipelines.records import (
        AuditedClaim,
        AuditRecord,
        FilmAnalysisRecord,
        FilmAnswer,
        Grade,
        GradesRecord,
        Shot,
        ShotAnswer,
    )

    items = [{"item_id": i, "title": HOSTILE if i == "a" else f"Clip {i}", "split": "train" if i == "t" else "test",
              "labels": {"genres": g, "budget": b, "shots": s}, "metadata": {}} for i, (g, b, s) in GOLD.items()]
    exams, grades, audits = [], [], []
    for item_id, spans in SPANS.items():
        asked = [Shot(index=k, start_s=a, end_s=b, shot_scale=m[0], camera_movement=m[1])
                 for k, ((a, b), m) in enumerate(zip(spans, MEASURED[item_id]))]
        answers = []
        for student, model in STUDENTS.items():
            given = ANSWERS[(item_id, student)]
            if given is None:
                answers.append(FilmAnswer(student=student, model=model, extraction="failed", raw="cat dog",
                                          problems=["no JSON object in the answer"]))
                continue
            genres, budget, shots = given
            answers.append(FilmAnswer(
                student=student, model=model, genres=genres, budget=budget, extraction="json",
                analysis=f"{student} on {item_id}: low-key light, a slow pan, <b>tension</b>.",
                shots=[ShotAnswer(shot=k, start_s=a, end_s=b, shot_scale=s, camera_movement=mv)
                       for k, ((a, b), (s, mv)) in enumerate(zip(spans, shots), 1)]))
        exams.append(FilmAnalysisRecord(item_id=item_id, stage="analyse_film", **PROVENANCE, answers=answers,
                                        shots_asked=asked))
        marks = [(s, MARKS.get((item_id, s))) for s in STUDENTS]
        grades.append(GradesRecord(item_id=item_id, stage="grade_analysis", **PROVENANCE, grades=[
            Grade(student=s, student_model=STUDENTS[s], judge_model="teacher", extraction="no analysis", scores={})
            if m is None else
            Grade(student=s, student_model=STUDENTS[s], judge_model="teacher", extraction="json", overall=m[3],
                  scores=dict(zip(("observations", "evidence", "interpretation"), m[:3])),
                  reasons={"observations": f"reason {item_id} <i>{s}</i>"})
            for s, m in marks]))
        claims = [AuditedClaim(source=f"analyse_film.analysis[{s}]", text=f"claim {k}", start=k, end=k + 1,
                               type="lighting", verdict=v, reason="r")
                  for s in STUDENTS for k, v in enumerate(CLAIMS.get((item_id, s), []))]
        claims.append(AuditedClaim(source="describe_frames.descriptions", text="a frame", start=0, end=7,
                                   type="object", verdict="contradicted", reason="r"))
        audits.append(AuditRecord(item_id=item_id, stage="audit_claims", **PROVENANCE, sources={}, claims=claims,
                                  counts={}))
    manifest = {"run_id": "film-known", "status": "completed", "config_name": "film", "config": {"task": "film"},
                "task_spec": {"name": "film", "label_key": "budget", "labels": ["low", "mid", "high", "blockbuster"]}}
    return RunData(path=tmp, manifest=manifest, stats={},
                   stages={"analyse_film": records_frame(exams), "grade_analysis": records_frame(grades),
                           "audit_claims": records_frame(audits)},
                   errors=pd.DataFrame(), items=items_frame(items, None, "budget"))


@pytest.fixture()
def run(tmp_path: Path) -> RunData:
    return known_run(tmp_path)


def _row(table: pd.DataFrame, student: str, metric: str) -> pd.Series:
    rows = table[(table.student == student) & (table.metric == metric)]
    assert len(rows) == 1, (student, metric, table[["student", "metric"]])
    return rows.iloc[0]


def _wilson(k: int, n: int) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    return proportion_confint(k, n, alpha=0.05, method="wilson")


def test_shot_tables_put_annotated_measured_and_answered_side_by_side(run: RunData):
    from analysis.film import exam_shots, exam_table

    shots = exam_shots(run)
    assert len(shots) == 2 * 5  # every shot asked, for both students: a failed answer is not dropped
    failed = shots[(shots.item_id == "a") & (shots.student == "vlm")]
    assert failed.scale_answered.isna().all() and list(failed.scale_annotated) == ["close-up", "long"]
    c2 = shots[(shots.item_id == "c") & (shots.shot == 2) & (shots.student == "text")].iloc[0]
    assert pd.isna(c2.scale_annotated) and (c2.scale_measured, c2.scale_answered) == ("long", "long")
    table = exam_table(run).set_index(["item_id", "student"])
    assert table.loc[("a", "text"), "genres_gold"] == ["drama", "history"]  # the manifest's "Drama", case-folded
    assert table.loc[("c", "vlm"), "budget_gold"] == "high"
    assert table.loc[("a", "text"), "scale_vs_annotated"] == 1.0 and table.loc[("c", "text"), "scale_vs_annotated"] == 0
    assert table.loc[("c", "text"), "scale_vs_measured"] == 0.5
    assert pd.isna(table.loc[("a", "vlm"), "overall"]) and table.loc[("b", "vlm"), "overall"] == 1


def test_exam_metrics_equal_scikit_learn_and_statsmodels(run: RunData):
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    from analysis.film import exam_metrics

    table = exam_metrics(run)
    assert not table[["low", "high"]].isna().any().any()
    assert ((table.low < table.high) & (table.low <= table.value) & (table.value <= table.high)).all()  # never a point
    assert table.small_n.all()

    budget = _row(table, "text", "budget accuracy")  # mid ✓, low ✓, mid for high ✗
    assert (budget.value, budget.n, budget.method) == (pytest.approx(2 / 3), 3, "wilson")
    assert (budget.low, budget.high) == pytest.approx(_wilson(2, 3))
    assert budget.baseline_name == "always 'low'" and budget.baseline_from == "train split (n=1)"
    assert (budget.baseline, budget.baseline_low, budget.baseline_high) == pytest.approx((1 / 3, *_wilson(1, 3)))
    assert _row(table, "vlm", "budget accuracy").value == pytest.approx(2 / 3)  # the failed answer counts as wrong

    # shots: scale answered vs annotated (c's second shot is not annotated); resampled by clip, never below Wilson
    for student, right in (("text", 3), ("vlm", 1)):
        scale = _row(table, student, "scale accuracy (answered)")
        assert (scale.value, scale.n) == (right / 4, 4)
        low, high = _wilson(right, 4)
        assert scale.low <= low + 1e-9 and scale.high >= high - 1e-9
        assert scale.baseline == 0.25 and scale.baseline_name == "always 'close-up'"  # the train clip's one shot
    assert _row(table, "text", "scale agreement (answered = measured)").value == 0.75  # a2 has no measured scale
    assert _row(table, "(measurement)", "scale accuracy (measured)").value == 0.75  # a2 unknown counts as wrong
    assert _row(table, "text", "movement accuracy (answered)").value == 0.8
    assert _row(table, "vlm", "movement accuracy (answered)").value == 0.4
    assert _row(table, "(measurement)", "movement accuracy (measured)").value == 1.0

    binarizer = MultiLabelBinarizer().fit([["drama", "history", "documentary", "comedy"]])
    gold = binarizer.transform([["drama", "history"], ["documentary"], ["comedy", "drama"]])
    for student, answers in (("text", [["drama"], ["documentary", "history"], ["comedy"]]),
                             ("vlm", [[], ["drama"], ["comedy", "drama"]])):
        f1 = _row(table, student, "genre F1 (micro)")
        assert f1.value == pytest.approx(f1_score(gold, binarizer.transform(answers), average="micro"))
        assert f1.n == 3 and f1.baseline_name == "always 'drama'"
        assert f1.baseline == pytest.approx(f1_score(gold, binarizer.transform([["drama"]] * 3), average="micro"))
    jaccard = _row(table, "text", "genre Jaccard")  # 1/2 on every clip: the bootstrap cannot vary
    assert (jaccard.value, jaccard.low, jaccard.high, jaccard.method) == (0.5, 0.0, 1.0, "range")

    overall = _row(table, "text", "mark: overall")
    assert (overall.value, overall.n) == (3.0, 3) and 1 <= overall.low < overall.high <= 5
    assert pd.isna(overall.baseline)
    vlm = _row(table, "vlm", "mark: overall")  # the failed answer got no mark, not a made-up one
    assert (vlm.value, vlm.n) == (2.5, 2)
    paired = _row(table, "vlm − text (paired)", "mark: overall")  # b: 1 − 4, c: 4 − 2
    assert (paired.value, paired.n) == (-0.5, 2) and -4 <= paired.low < paired.high <= 4


def test_the_audit_per_student_is_the_audits_own_rates(run: RunData):
    from analysis import audit
    from analysis.film import exam_audit

    table = exam_audit(run).set_index("student")
    claims = audit.run_claims(run)
    expected = audit.rates(claims[claims.student.notna()], by="student").set_index("student")
    for student in ("text", "vlm", "all"):
        assert table.loc[student, "claims"] == expected.loc[student, "claims"]
        assert table.loc[student, "hallucination"] == pytest.approx(expected.loc[student, "hallucination"])
        assert (table.loc[student, "hallucination_low"], table.loc[student, "hallucination_high"]) == pytest.approx(
            expected.loc[student, "hallucination_ci"])
    assert table.loc["text", ["supported", "contradicted", "unverifiable"]].tolist() == [3, 2, 1]
    assert table.loc["all", "claims"] == 10  # the frame descriptions' claims are not the students'
    paired = table.loc["vlm − text (paired)"]  # per clip: b 1/2 − 0/1, c 0/2 − 1/1
    assert paired.clips == 2 and paired.hallucination == pytest.approx(-0.25)


def test_the_report_writes_the_exam_tables_beside_the_html(run: RunData, tmp_path: Path):
    from analysis.film import exam_metrics
    from analysis.report import write_report

    html = write_report([run], tmp_path / "out").read_text(encoding="utf-8")
    out = tmp_path / "out"
    table = pd.read_csv(out / "exam_metrics.csv")
    assert list(table.columns[:3]) == ["run_id", "student", "metric"] and set(table.run_id) == {"film-known"}
    expected = exam_metrics(run)
    assert table[["value", "low", "high", "baseline"]].to_numpy() == pytest.approx(
        expected[["value", "low", "high", "baseline"]].astype(float).to_numpy(), nan_ok=True)
    assert (out / "exam_metrics.md").read_text().startswith("| run_id | student | metric | value | low | high |")
    clips = pd.read_csv(out / "exam_clips.csv")
    assert len(clips) == 6 and json.loads(clips.loc[0, "genres_gold"]) == ["drama", "history"]
    assert len(pd.read_csv(out / "exam_shots.csv")) == 10
    assert set(pd.read_csv(out / "exam_audit.csv").student) == {"text", "vlm", "all", "vlm − text (paired)"}
    assert set(pd.read_csv(out / "exam_marks.csv").criterion) == {"observations", "evidence", "interpretation",
                                                                   "overall"}

    assert 'id="exam"' in html and "This run has no predictions: its film exam is reported" in html
    assert html.count('<section class="clip"') == 3 and "Small n:" in html
    assert "0.667 [0.208, 0.939]" in html  # text's budget accuracy with its Wilson interval
    # clip a, scale right / annotated · agreeing / measured: text 2/2 · 1/1, vlm (failed) 0/2 · 0/1
    assert "2/2 · 1/1" in html and "0/2 · 0/1" in html and "not graded (no analysis)" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "&lt;b&gt;tension&lt;/b&gt;" in html and "&lt;i&gt;text&lt;/i&gt;" in html  # analyses, reasons escaped


# --- a real film run --------------------------------------------------------------------------

LLM = {"backend": "local", "model": "bundled:smollm2-135m-instruct", "max_tokens": 280}
FILM_RUN_ID = "film-report"


@functools.cache
def _build(base: Path) -> dict[str, Any]:
    from pipelines.datasets.synthetic_film import FilmShot, FilmSpec, Sound, generate_film_samples
    from tests.tiny_models import build_tiny_llava

    tmp = base / "film-report-fixture"
    specs = [FilmSpec("harbour", HOSTILE, 1999, ["documentary"], 2_000_000, "A harbour at dusk.",
                      [FilmShot("face:astronaut:close-up", scale="close-up"), FilmShot("photo:china", "pan right")],
                      [Sound("speech", 0.2, 3.5, "The boats come home at dusk.")]),
             FilmSpec("portrait", "Portrait", 1952, ["biography", "drama"], 120_000_000, "Two faces, cut.",
                      [FilmShot("face:hopper:close-up", scale="close-up"),
                       FilmShot("face:astronaut:extreme close-up", scale="extreme close-up")])]
    manifest = generate_film_samples(tmp / "data", specs=specs, include_bunny=False)
    vlm = build_tiny_llava(tmp / "tiny-llava")
    config = tmp / "film.yaml"
    config.write_text(json.dumps({
        "name": "film-report", "task": "film", "dataset": {"path": str(manifest)},
        "stages": {"extract_frames": {"num_frames": 4}, "measure_visuals": {}, "summarize": {},
                   # the shots asked inside the exam (one request per clip: the report is under test here;
                   # the per-shot questions: the film demo, tests/audit/test_demo_audit.py)
                   "analyse_film": {"students": ["text", "vlm"], "llm": LLM, "shots_apart": False,
                                    "vlm": {"model": str(vlm), "max_new_tokens": 16, "max_frames": 2}},
                   "grade_analysis": {"llm": {**LLM, "max_tokens": 220}},
                   "audit_claims": {"targets": ["analyse_film.analysis"]}}}), encoding="utf-8")

    def m2t(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=1500)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done

    m2t("run", str(config), "--run-id", FILM_RUN_ID, "--runs-dir", str(tmp / "runs"), "--cache-dir", str(tmp / "cache"))
    done = m2t("report", FILM_RUN_ID, "--runs-dir", str(tmp / "runs"), "--out", str(tmp / "out"))
    path = tmp / "out" / "report.html"
    return {"run_dir": tmp / "runs" / FILM_RUN_ID, "out": tmp / "out", "path": path, "stdout": done.stdout,
            "html": path.read_text(encoding="utf-8")}


def built_film_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The real film run and `m2t report` of it (made on first use in the session)."""
    return _build(tmp_path_factory.getbasetemp())


@pytest.mark.slow  # two generated clips through SmolLM2 twice (exam, grades), a tiny LLaVA: ~1.5 min on 2 idle cores
@pytest.mark.timeout(1800)  # the run is made here when this test comes first
def test_m2t_report_on_a_real_film_run(tmp_path_factory):
    from analysis import load_run
    from analysis.film import exam_metrics

    report = built_film_report(tmp_path_factory)
    run = load_run(report["run_dir"])
    table = pd.read_csv(report["out"] / "exam_metrics.csv")
    expected = exam_metrics(run)
    assert table[["student", "metric", "n"]].values.tolist() == expected[["student", "metric", "n"]].values.tolist()
    assert table.value.to_numpy() == pytest.approx(expected.value.astype(float).to_numpy())
    assert {"budget accuracy", "genre F1 (micro)", "scale accuracy (answered)", "scale accuracy (measured)",
            "movement agreement (answered = measured)"} <= set(table.metric)
    assert set(table.student) >= {"text", "vlm", "(measurement)"}
    measured = table[table.metric == "scale accuracy (measured)"].iloc[0]
    assert measured.value == 1.0 and measured.n == 3  # generated faces: close-up, close-up, extreme close-up
    html = report["html"]
    assert 'id="exam"' in html and html.count('<section class="clip"') == 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    clips = pd.read_csv(report["out"] / "exam_clips.csv")
    assert set(clips.item_id) == {"harbour", "portrait"} and set(clips.student) == {"text", "vlm"}


def test_an_exam_without_grades_audit_or_shots_still_reports(run: RunData, tmp_path: Path):
    from analysis.report import write_report

    del run.stages["grade_analysis"], run.stages["audit_claims"]
    run.stages["analyse_film"]["shots_asked"] = [[] for _ in range(len(run.stages["analyse_film"]))]
    html = write_report([run], tmp_path).read_text(encoding="utf-8")
    assert html.count("No shots were measured, so none were asked.") == 3 and "No audit of the analyses" in html
    assert html.count("not graded (no grade)") == 6
    table = pd.read_csv(tmp_path / "exam_metrics.csv")
    assert not table.metric.str.contains("scale|movement|mark").any() and "budget accuracy" in set(table.metric)
