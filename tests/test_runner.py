"""The runner end to end, with the real bundled Whisper: bad inputs, cache reuse, resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import validate_config
from pipelines.runner import EXIT_ITEMS_FAILED, Runner
from pipelines.store import RunStore
from tests.conftest import SAMPLES, config_dict, copy_sample, write_manifest

STAGES = ["extract_frames", "transcribe_audio", "summarize"]


def runner(tmp_path: Path, manifest: Path, run_id: str = "r", **kw) -> Runner:
    cfg = validate_config(config_dict(manifest, batch_size=kw.pop("batch_size", 2)))
    return Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", run_id=run_id, show_progress=False, **kw)


def shard_bytes(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted((run_dir / "records").rglob("*.jsonl"))}


@pytest.fixture()
def bad_inputs(tmp_path: Path) -> Path:
    media = tmp_path / "media"
    copy_sample("espresso.mp4", media)
    copy_sample("horse_silent.mp4", media)
    (media / "zero.mp4").write_bytes(b"")
    (media / "notes.mp4").write_text("this is a text file, not a video\n")
    full = (SAMPLES / "rocket_countdown.mp4").read_bytes()
    (media / "truncated.mp4").write_bytes(full[: len(full) * 2 // 5])
    rows = (
        b"id,path,title\n"
        b"good,espresso.mp4,How I make espresso\n"
        b"silent,horse_silent.mp4,A silent horse\n"
        b"missing,missing.mp4,Nothing here\n"
        b"zero,zero.mp4,Zero bytes\n"
        b"truncated,truncated.mp4,Cut short\n"
        b"textfile,notes.mp4,Text named mp4\n"
        b"escape,../../etc/passwd,Path escape\n"
        b"latin1,espresso.mp4,Caf\xe9 cr\xe8me\n"
    )
    (media / "manifest.csv").write_bytes(rows)
    return media / "manifest.csv"


def test_bad_inputs_give_per_item_errors_and_lose_nothing(tmp_path: Path, bad_inputs: Path):
    first = runner(tmp_path, bad_inputs).run()
    assert first.exit_code == EXIT_ITEMS_FAILED
    store = RunStore(first.run_dir)

    load = {e.item_id: e.reason for e in store.errors("load_items")}
    assert "escapes the data root" in load["escape"]
    assert "not valid UTF-8" in load["latin1"]
    frames = {e.item_id: e.reason for e in store.errors("extract_frames")}
    assert "video file not found" in frames["missing"]
    assert "empty (0 bytes)" in frames["zero"]
    assert "truncated or corrupt" in frames["truncated"] or "cannot decode video" in frames["truncated"]
    assert "cannot decode video" in frames["textfile"]
    assert set(frames) == {"missing", "zero", "truncated", "textfile"}
    for reason in [*load.values(), *frames.values()]:
        assert "\n" not in reason and "Traceback" not in reason

    for stage in STAGES:
        done = {r.item_id for r in store.records(stage)}
        assert {"good", "silent"} <= done, stage
    silent = next(r for r in store.records("transcribe_audio") if r.item_id == "silent")
    assert silent.no_audio and not silent.segments
    good = next(r for r in store.records("summarize") if r.item_id == "good")
    assert "espresso" in good.text.lower()
    audio = {e.item_id: e.reason for e in store.errors("transcribe_audio")}
    assert set(audio) == {"missing", "zero", "truncated", "textfile"}
    assert "truncated or corrupt" in audio["truncated"]
    assert {e.item_id for e in store.errors("summarize")} == set(audio)

    manifest = store.read_manifest()
    assert manifest["status"] == "completed_with_errors"
    assert manifest["load_errors"] == 2 and manifest["items"] == 6
    assert manifest["models"]["transcribe_audio"] == "bundled:whisper-tiny.en"
    assert manifest["packages"]["faster-whisper"]

    # the same command again: finished records are kept byte for byte and not recomputed
    before = shard_bytes(first.run_dir)
    second = runner(tmp_path, bad_inputs).run()
    assert second.exit_code == EXIT_ITEMS_FAILED
    after = shard_bytes(first.run_dir)
    assert all(after[name] == data for name, data in before.items())
    assert second.stages["transcribe_audio"].done_before >= 2
    for stage in STAGES:
        assert second.stages[stage].computed == 0, stage  # only failed items were retried, and failed again
        assert second.stages[stage].done_before == first.stages[stage].ok


def test_second_run_takes_everything_from_the_cache_without_models(tmp_path: Path):
    media = tmp_path / "media"
    rows = [{"id": n, "path": copy_sample(f"{n}.mp4", media), "title": n} for n in ("espresso", "horse_silent", "cat_sofa")]
    manifest = write_manifest(media, rows)
    first = runner(tmp_path, manifest, run_id="one").run()
    assert first.exit_code == 0 and first.model_loads
    second = runner(tmp_path, manifest, run_id="two").run()
    assert second.exit_code == 0
    assert second.model_loads == []
    for stage in STAGES:
        assert second.stages[stage].computed == 0 and second.stages[stage].from_cache == 3
        one = {r.item_id: r.model_dump(exclude={"created_at"}) for r in RunStore(first.run_dir).records(stage)}
        two = {r.item_id: r.model_dump(exclude={"created_at"}) for r in RunStore(second.run_dir).records(stage)}
        assert one == two
    stats = RunStore(second.run_dir).read_stats()
    assert stats["model_loads"] == [] and stats["stages"]["transcribe_audio"]["from_cache"] == 3

    # a changed title re-runs only what reads it
    rows[0]["title"] = "A new title"
    write_manifest(media, rows)
    third = runner(tmp_path, manifest, run_id="three").run()
    assert third.stages["transcribe_audio"].computed == 0
    assert third.stages["summarize"].computed == 1


def test_limit_then_full_run_resumes(tmp_path: Path):
    media = tmp_path / "media"
    rows = [{"id": n, "path": copy_sample(f"{n}.mp4", media)} for n in ("espresso", "horse_silent")]
    manifest = write_manifest(media, rows)
    part = runner(tmp_path, manifest, limit=1).run()
    assert [i.item_id for i in part.items] == ["espresso"]
    full = runner(tmp_path, manifest).run()
    assert full.stages["extract_frames"].done_before == 1 and full.stages["extract_frames"].computed == 1


def test_changed_stage_config_recomputes_only_that_stage(tmp_path: Path):
    media = tmp_path / "media"
    manifest = write_manifest(media, [{"id": "espresso", "path": copy_sample("espresso.mp4", media)}])
    runner(tmp_path, manifest).run()
    cfg = config_dict(manifest)
    cfg["stages"]["extract_frames"]["num_frames"] = 2
    result = Runner(validate_config(cfg), runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", run_id="r",
                    show_progress=False).run()
    assert result.stages["extract_frames"].computed == 1
    assert result.stages["transcribe_audio"].done_before == 1
    assert len(result.records["extract_frames"]["espresso"].frames) == 2
