"""The film exam: answers read against their allowed values, and both students (the bundled
LLM on the text, a tiny random LLaVA on the frames) through the real stages, graded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.records import Shot
from pipelines.stages.analyse_film import exam_schema, read_answer, read_shot
from tests.conftest import ROOT, make_ctx

SHOTS = [Shot(index=0, start_s=0.0, end_s=2.0), Shot(index=1, start_s=2.0, end_s=4.0)]


def test_a_valid_answer_is_read_whole():
    reply = json.dumps({"analysis": "Dark, slow and quiet: a close-up then a pan over the harbour.",
                        "shots": [{"shot": 1, "scale": "close-up", "movement": "static"},
                                  {"shot": 2, "scale": "long", "movement": "pan left"}],
                        "genres": ["Drama", "thriller"], "budget": "mid"})
    answer = read_answer(reply, "text", "m", SHOTS, "film")
    assert answer.extraction == "json" and answer.problems == []
    assert answer.genres == ["drama", "thriller"] and answer.budget == "mid"
    assert [(s.shot_scale, s.camera_movement, s.start_s) for s in answer.shots] == [
        ("close-up", "static", 0.0), ("long", "pan left", 2.0)]


def test_unknown_scale_is_an_answer_not_a_problem():
    reply = json.dumps({"analysis": "A slow pan over an empty harbour at dusk, no people in sight.",
                        "shots": [{"shot": 1, "time": "0.0–2.0 s", "scale": "unknown", "movement": "pan right"},
                                  {"shot": 2, "time": "2.0–4.0 s", "scale": "long", "movement": "static"}],
                        "genres": ["documentary"], "budget": "low"})
    answer = read_answer(reply, "text", "m", SHOTS, "film")
    assert answer.problems == [] and answer.shots[0].shot_scale is None and answer.shots[1].shot_scale == "long"


def test_values_outside_the_lists_are_dropped_and_named():
    reply = 'Sure! {"analysis": "x", "shots": [{"shot": 1, "scale": "wide", "movement": "dolly"}], ' \
            '"genres": ["space opera"], "budget": "huge"}'
    answer = read_answer(reply, "vlm", "m", SHOTS, "film")
    assert answer.genres == [] and answer.budget is None
    assert answer.shots[0].shot_scale is None and answer.shots[1].shot_scale is None
    assert any("genres outside" in p for p in answer.problems)
    assert any("shot 2 not answered" in p for p in answer.problems)
    assert any("'huge' is not a band" in p for p in answer.problems)


def test_unreadable_answers_fail_on_the_record():
    cut = read_answer('{"analysis": "The light is', "text", "m", SHOTS, "film")
    assert cut.extraction == "failed" and "cut off" in cut.problems[0] and cut.raw
    partial = read_answer('{"analysis": "Low-key light, a slow pan.", "shots": [{"shot": 1, "ti', "text", "m", SHOTS,
                          "film")
    assert partial.extraction == "partial" and partial.analysis == "Low-key light, a slow pan." and not partial.shots
    none = read_answer("cat dog bird", "vlm", "m", SHOTS, "film")
    assert none.extraction == "failed" and none.problems == ["no JSON object in the answer"]


def test_schema_follows_the_shots_asked():
    schema = exam_schema("film", SHOTS)
    assert list(schema["properties"]) == ["analysis", "shots", "genres", "budget"]
    entries = schema["properties"]["shots"]["prefixItems"]
    assert [e["properties"]["time"]["const"] for e in entries] == ["0.0–2.0 s", "2.0–4.0 s"]
    assert "shots" not in exam_schema("film", [])["properties"]


def test_a_shots_own_answer_is_read_against_the_lists():
    good, problems = read_shot('{"scale": "close-up", "movement": "pan left"}', 2, SHOTS[1])
    assert (good.shot, good.start_s, good.shot_scale, good.camera_movement, problems) == (
        2, 2.0, "close-up", "pan left", [])
    assert good.raw == '{"scale": "close-up", "movement": "pan left"}'
    unknown, problems = read_shot('{"scale": "unknown", "movement": "static"}', 1, SHOTS[0])
    assert unknown.shot_scale is None and problems == []
    wrong, problems = read_shot('{"scale": "wide", "movement": "static"}', 1, SHOTS[0])
    assert wrong.shot_scale is None and wrong.camera_movement == "static" and problems == [
        "shot 1: 'wide' / 'static' not in the lists"]
    none, problems = read_shot("I cannot tell.", 1, SHOTS[0])
    assert none.shot_scale is None and none.raw == "I cannot tell." and problems[0].startswith("shot 1 not answered")


def film_ctx(tmp_path: Path, shots: list[Shot] = SHOTS):
    from pipelines.records import SummaryRecord, VisualsRecord

    provenance = {"item_id": "item", "stage": "x", "stage_version": 1, "key": "k", "input_hash": "i",
                  "config_hash": "c", "model": None}
    summary = SummaryRecord(**provenance, text="[visual facts] Shots: (1) 0.0–2.0 s: close-up, static; (2) 2.0–4.0 s: "
                                               "long, pan right.\n[speech] The boats come home.",
                            sections=["visual facts", "speech"])
    visuals = VisualsRecord.model_construct(**provenance, shots=shots)  # the stage reads only its shots
    return make_ctx("analyse_film", tmp_path, {"summarize": summary, "measure_visuals": visuals})


def test_each_shot_is_its_own_question_after_the_exams_prefix(tmp_path: Path):
    """The text student (shots_apart): the exam without shots, then one question per shot; all
    begin with the same system message and clip, so a backend keeps one prefix per clip."""
    from pipelines.stages.analyse_film import AnalyseFilmConfig, shot_schema, text_requests

    cfg = AnalyseFilmConfig(task="film")
    requests = text_requests(None, cfg, film_ctx(tmp_path), SHOTS)  # type: ignore[arg-type]
    (exam, exam_schema_), *questions = requests
    assert "shots" not in exam_schema_["properties"] and "shot 1:" not in exam[-1][1]
    assert [schema for _, schema in questions] == [shot_schema(), shot_schema()]
    for k, ((messages, _), shot) in enumerate(zip(questions, SHOTS), 1):
        assert messages[:-1] == exam[:-1] and [role for role, _ in messages] == ["system", "user", "user"]
        assert messages[-1][1].startswith(f"Shot {k} of the clip: {shot.start_s:.1f}–{shot.end_s:.1f} s.")
    assert "The boats come home." in exam[1][1]
    together = text_requests(None, AnalyseFilmConfig(task="film", shots_apart=False), film_ctx(tmp_path), SHOTS)  # type: ignore[arg-type]
    assert len(together) == 1 and "shots" in together[0][1]["properties"] and "shot 2: 2.0–4.0 s" in together[0][0][-1][1]


def test_a_listed_shot_is_answered_after_quoting_its_own_entry(tmp_path: Path):
    """When the facts list the shots, each shot's question asks for its numbered entry first, and
    the schema makes the quote begin with that entry's own label (never a neighbour's)."""
    import re

    from pipelines.stages.analyse_film import AnalyseFilmConfig, text_requests
    from pipelines.stages.measure_visuals import lists_shots, shot_entry

    measured = [Shot(index=0, start_s=0.0, end_s=2.0, shot_scale="close-up", camera_movement="static"),
                Shot(index=1, start_s=2.0, end_s=4.0, shot_scale="long", camera_movement="pan right")]
    assert lists_shots(measured) and not lists_shots(SHOTS)
    assert [shot_entry(k, s) for k, s in enumerate(measured, 1)] == ["(1) 0.0–2.0 s: close-up, static",
                                                                    "(2) 2.0–4.0 s: long, pan right"]
    _, *questions = text_requests(None, AnalyseFilmConfig(task="film"), film_ctx(tmp_path, measured), measured)  # type: ignore[arg-type]
    for k, (messages, schema) in enumerate(questions, 1):
        assert list(schema["properties"]) == ["entry", "scale", "movement"]
        assert f"First copy entry ({k}) of the Shots list" in messages[-1][1]
        pattern = re.compile(schema["properties"]["entry"]["pattern"])
        assert pattern.match(shot_entry(k, measured[k - 1]))
        assert not pattern.match(shot_entry(3 - k, measured[2 - k]))  # the other shot's entry


@pytest.mark.slow
def test_two_students_one_exam_graded(tmp_path: Path):
    from analysis import load_run
    from analysis.film import exam_metrics, exam_table, genre_scores, marks_distribution
    from pipelines.config import load_config
    from pipelines.datasets.synthetic_film import FilmShot, FilmSpec, Sound, generate_film_samples
    from pipelines.runner import Runner
    from tests.tiny_models import build_tiny_llava

    specs = [FilmSpec("harbour", "Harbour", 1999, ["documentary"], 2_000_000, "A harbour at dusk.",
                      [FilmShot("face:astronaut:close-up", scale="close-up"), FilmShot("photo:china", "pan right")],
                      [Sound("speech", 0.2, 3.5, "The boats come home at dusk.")]),
              FilmSpec("silent", "Silent", 1927, ["drama"], 120_000_000, "No sound at all.",
                       [FilmShot("photo:coffee", duration_s=1.5)])]
    manifest = generate_film_samples(tmp_path / "data", specs=specs, include_bunny=False)
    vlm = build_tiny_llava(tmp_path / "tiny-llava")
    llm = {"model": "bundled:smollm2-135m-instruct", "max_tokens": 700}
    config = tmp_path / "film.yaml"
    config.write_text(json.dumps({
        "name": "film-test", "task": "film", "dataset": {"path": str(manifest)},
        "stages": {"extract_frames": {"num_frames": 4}, "measure_visuals": {}, "summarize": {},
                   "analyse_film": {"students": ["text", "vlm"], "llm": llm,
                                    "vlm": {"model": str(vlm), "max_new_tokens": 24, "max_frames": 3}},
                   "grade_analysis": {"llm": {**llm, "max_tokens": 400}}},
    }), encoding="utf-8")
    result = Runner(load_config(config), runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache",
                    show_progress=False).run()
    assert result.exit_code == 0, result.summary_line()

    exams = result.records["analyse_film"]
    for item_id, record in exams.items():
        text, image = record.answers
        assert (text.student, image.student) == ("text", "vlm") and image.model == str(vlm)
        assert text.extraction == "json", (text.problems, text.raw)  # constrained to the schema
        assert len(text.shots) == len(record.shots_asked) >= 1 and text.budget in {"low", "mid", "high", "blockbuster"}
        assert all(s.raw for s in text.shots) and not any(s.raw for s in image.shots)  # asked apart / in the exam
        assert text.analysis and text.genres
        assert image.extraction in {"json", "failed"} and image.raw  # a random model: read or failed, never lost
    for item_id, record in result.records["grade_analysis"].items():
        by_student = {g.student: g for g in record.grades}
        assert set(by_student) == {"text", "vlm"}
        assert by_student["text"].judge_model == "bundled:smollm2-135m-instruct"
        graded = by_student["text"]
        assert graded.extraction == "json" and set(graded.scores) <= {"observations", "evidence", "interpretation"}
        assert all(1 <= v <= 5 for v in graded.scores.values())

    run = load_run(result.run_dir)
    table = exam_table(run)
    assert set(table.student) == {"text", "vlm"} and len(table) == 4
    assert set(table.budget_gold) == {"low", "blockbuster"}
    metrics = exam_metrics(run)
    assert {"budget accuracy", "genre Jaccard", "scale accuracy (answered)", "movement accuracy (measured)"} <= set(
        metrics.metric)
    assert metrics[metrics.metric == "movement accuracy (measured)"].value.iloc[0] == 1.0
    genres = genre_scores(run)
    assert {"documentary", "drama"} <= set(genres.genre) and genres.f1.between(0, 1).all()
    marks = marks_distribution(run)
    text_marks = marks[(marks.student == "text") & (marks.criterion == "overall")].iloc[0]
    assert sum(text_marks[str(m)] for m in range(1, 6)) == text_marks.n


def test_render_prints_the_text_students_exam(tmp_path: Path):
    """m2t render shows the exact exam without a model (upstream records from a run)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "pipelines.cli", "render", "analyse_film", "pipelines/configs/film.yaml",
                          "-n", "1", "--runs-dir", str(tmp_path / "runs")], cwd=ROOT, capture_output=True, text=True)
    # without a finished run the command says which run it needs, in one line
    assert out.returncode != 0 and "run" in (out.stdout + out.stderr).lower()
