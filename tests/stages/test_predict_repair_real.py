"""predict's explanation check and repair with the demo's real LLM, on two sample clips through
every evidence stage (real models), then audit_claims on the kept explanations.

A study prompt (the config's ``prompts_dir``, as a user would bring one) plants in the first
answer a claim each clip's evidence contradicts — "horse sketches with no audio track", what the
0.5B model copied from a neighbour in the demo — so the repair path runs through the real model
every time; the repair request itself is the bundled ``popularity/repair_explanation``."""

from __future__ import annotations

import json

import pytest
import yaml

from pipelines.config import validate_config
from pipelines.prompts import use_study_prompts, write_lock
from pipelines.runner import Runner
from tests.conftest import ROOT, copy_sample, write_manifest

CLIPS = ("photographer", "rocket_countdown")
PLANTED = """---
id: popularity.predict_planted
version: 1
inputs: [video_text, labels]
output_schema: PredictionAnswer
changelog: a test prompt whose first answer carries a claim the video's evidence contradicts
---
[system]
You predict how popular a YouTube video becomes, from a text version of the video. The classes:
{% for name, description in labels.items() %}- {{ name }}: {{ description }}
{% endfor %}Reply with one JSON object and nothing else: {"label": "<local-hit or global-big-hit>", "confidence": <0 to 1>, "explanation": "<why>", "evidence": ["<a short quote from the video text>"]}
Begin the explanation with the words: "The video shows horse sketches with no audio track".
[user]
Video:
{{ video_text | untrusted("video") }}

Which class is this video? Reply with the JSON object only.
"""


@pytest.fixture(scope="module")
def repaired_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("repair_real")
    rows = [json.loads(line) for line in (ROOT / "data/samples/manifest.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["id"] in CLIPS]
    for row in rows:
        copy_sample(row["path"], tmp / "data")
    manifest = write_manifest(tmp / "data", rows)
    (tmp / "prompts" / "popularity").mkdir(parents=True)
    (tmp / "prompts" / "popularity" / "predict_planted.md").write_text(PLANTED)
    write_lock(tmp / "prompts")
    demo = yaml.safe_load((ROOT / "pipelines/configs/popularity.yaml").read_text())["stages"]
    cfg = validate_config({
        "name": "repair", "task": "popularity", "dataset": {"path": str(manifest)}, "prompts_dir": str(tmp / "prompts"),
        "stages": {**{s: demo[s] for s in ("extract_frames", "read_onscreen_text", "measure_visuals", "detect_objects",
                                           "describe_frames", "transcribe_audio", "describe_audio", "summarize")},
                   "predict": {"mode": "zero_shot", "prompt": "popularity/predict_planted", "splits": None,
                               "llm": demo["predict"]["llm"], "max_repairs": 1},
                   "audit_claims": {"targets": ["predict.explanation"]}},  # rules and sentences: predict's own check
    })
    result = Runner(cfg, runs_dir=tmp / "runs", cache_dir=tmp / "cache", show_progress=False).run()
    yield tmp, cfg, result
    use_study_prompts(None)  # the study's folder is searched by every later prompt look-up otherwise


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the run is made here: every evidence stage and the demo's LLM on two clips
def test_a_contradicted_first_answer_is_sent_back_once_and_both_versions_are_kept(repaired_run):
    _, _, result = repaired_run
    assert result.exit_code == 0, result.errors
    predictions = result.records["predict"]
    assert set(predictions) == set(CLIPS)
    sent_back = [r for r in predictions.values() if r.repairs]
    assert sent_back, {k: r.explanation for k, r in predictions.items()}
    for record in sent_back:
        first, (repair,) = record.first_answer, record.repairs  # max_repairs 1: one request at most
        assert first is not None and "horse" in first.explanation.casefold()
        assert first.check.flagged and repair.named == [c.text for c in first.check.flagged]
        assert repair.raw and (repair.answer is not None) == (repair.error == "")
        kept = repair.answer if repair.kept else first
        assert kept is not None and record.explanation == kept.explanation and record.label == kept.label
        assert record.explanation_check == kept.check
        assert record.explanation_flagged == bool(kept.check.flagged)
    for record in predictions.values():
        assert record.explanation_check is not None
        assert record.verifiable_share == record.explanation_check.verifiable_share
        assert 0.0 <= (record.verifiable_share or 0.0) <= 1.0


@pytest.mark.slow
def test_predict_checks_with_the_audits_own_rules(repaired_run):
    """audit_claims by rules and sentences gives each kept explanation the verdicts predict
    recorded for it: one checker, not two."""
    _, _, result = repaired_run
    for item_id, record in result.records["predict"].items():
        audit = result.records["audit_claims"][item_id]
        counts = {v: sum(c.verdict == v for c in audit.claims) for v in record.explanation_check.counts}
        assert counts == record.explanation_check.counts, (record.explanation, audit.claims)
        assert [c.text for c in audit.claims if c.verdict in ("contradicted", "unsupported")] == \
            [c.text for c in record.explanation_check.flagged]


@pytest.mark.slow
def test_the_repairs_come_from_the_cache_the_second_time(repaired_run):
    tmp, cfg, first = repaired_run
    again = Runner(cfg, runs_dir=tmp / "runs", cache_dir=tmp / "cache", run_id="again", show_progress=False).run()
    assert again.model_loads == []
    assert {k: (r.explanation, len(r.repairs)) for k, r in again.records["predict"].items()} == \
        {k: (r.explanation, len(r.repairs)) for k, r in first.records["predict"].items()}
