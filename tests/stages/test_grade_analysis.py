"""grade_analysis shows the teacher the audit rules' verdicts on the analysis it marks (the
stage's run through the real models: tests/stages/test_analyse_film.py)."""

from __future__ import annotations


def test_the_teacher_is_told_the_contradicted_claims_and_how_many_were_checkable():
    from pipelines.prompts import load_prompt

    prompt = load_prompt("film/grade")
    checks = {"claims": 5, "checkable": 3, "flagged": [
        {"text": "The clip opens on a long shot.", "verdict": "contradicted", "reason": "the first shot is a close-up"}]}
    text = "\n".join(content for _, content in prompt.messages(video_text="Shots: shot 1, 0.0–2.0 s close-up.",
                                                                 analysis="The clip opens on a long shot.",
                                                                 checks=checks))
    assert "3 of the analysis's 5 claims could be checked" in text
    assert '"The clip opens on a long shot." is contradicted: the first shot is a close-up' in text
    assert "each such claim costs" in text
    clean = "\n".join(c for _, c in prompt.messages(video_text="x", analysis="y",
                                                     checks={"claims": 2, "checkable": 2, "flagged": []}))
    assert "none is contradicted or found nowhere" in clean
    off = "\n".join(c for _, c in prompt.messages(video_text="x", analysis="y", checks=None))
    assert "rule checks" not in off and "rule-based checks" not in off
