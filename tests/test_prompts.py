from pathlib import Path

import pytest

from pipelines.errors import ConfigError
from pipelines.prompts import all_prompts, check_lock, load_prompt, parse_prompt, write_lock


def test_every_prompt_is_locked_and_well_formed():
    assert check_lock() == []
    prompts = all_prompts()
    assert {"describe_frames.neutral", "describe_frames.film"} <= {p.id for p in prompts}
    for prompt in prompts:
        assert prompt.version >= 1 and prompt.changelog and prompt.body.strip()


def test_a_changed_body_without_a_version_bump_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("M2T_PROMPTS_DIR", str(tmp_path))
    (tmp_path / "t").mkdir()
    path = tmp_path / "t" / "p.md"
    path.write_text("---\nid: t.p\nversion: 1\ninputs: [title]\noutput_schema: null\nchangelog: first\n---\nHello {{ title }}\n")
    write_lock()
    assert check_lock() == []
    path.write_text(path.read_text().replace("Hello", "Hi"))
    assert check_lock() == ["t.p@1 changed without a version bump: raise its version, then `m2t prompts lock`"]
    with pytest.raises(ConfigError, match="without a version bump"):
        write_lock()
    path.write_text(path.read_text().replace("version: 1", "version: 2"))
    assert "t.p@2 is not in LOCK.json" in check_lock()[0]
    write_lock()
    assert check_lock() == []


def test_rendering_is_strict(tmp_path: Path):
    path = tmp_path / "p.md"
    path.write_text("---\nid: x\nversion: 1\ninputs: [a]\noutput_schema: null\nchangelog: c\n---\n{{ a }} and {{ b }}\n")
    prompt = parse_prompt(path)
    with pytest.raises(ConfigError, match="needs a"):
        prompt.render()
    with pytest.raises(ConfigError, match="'b' is undefined"):
        prompt.render(a=1)
    assert prompt.render(a=1, b=2) == "1 and 2"
    with pytest.raises(ConfigError, match="no prompt 'nope/nope'"):
        load_prompt("nope/nope")


def test_a_study_brings_its_own_prompts(tmp_path):
    """prompts_dir: the study's folder is searched first, locked like the bundled one, and
    recorded in the run like any prompt; predict.prompt picks the file."""
    import json as json_

    import pytest as pytest_

    from pipelines.config import load_config
    from pipelines.errors import ConfigError
    from pipelines.prompts import load_prompt, use_study_prompts, write_lock
    from pipelines.runner import Runner
    from tests.conftest import write_manifest

    ours = tmp_path / "my_prompts" / "popularity"
    ours.mkdir(parents=True)
    body = load_prompt("popularity/predict_zero_shot").path.read_text()
    (ours / "predict_terse.md").write_text(body.replace("id: popularity.predict_zero_shot", "id: study.predict_terse")
                                           .replace("Which class is this video?", "Local or global? Decide."))
    write_lock(tmp_path / "my_prompts")
    manifest = write_manifest(tmp_path, [{"id": "q", "title": "Village fair", "split": "test"}])
    (tmp_path / "study.yaml").write_text(
        f"name: study\ntask: popularity\nprompts_dir: my_prompts\ndataset: {{path: {manifest}}}\n"
        "stages:\n  summarize: {}\n  predict: {mode: zero_shot, prompt: popularity/predict_terse,\n"
        "            llm: {model: bundled:smollm2-135m-instruct, max_tokens: 40}}\n")
    try:
        cfg = load_config(tmp_path / "study.yaml")
        result = Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", show_progress=False).run()
        record = result.records["predict"]["q"]
        assert (record.prompt_id, record.prompt_version) == ("study.predict_terse", 1)
        run_manifest = json_.loads((result.run_dir / "manifest.json").read_text())
        assert any(p["id"] == "study.predict_terse" for p in run_manifest["prompts"])
        assert load_prompt("popularity/hypothesize").id == "popularity.hypothesize"  # the bundled ones still serve
        (ours / "predict_terse.md").write_text((ours / "predict_terse.md").read_text() + "\nBe brief.\n")
        with pytest_.raises(ConfigError, match="changed without a version bump"):
            load_config(tmp_path / "study.yaml")
    finally:
        use_study_prompts(None)
