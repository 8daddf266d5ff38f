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
