"""The runner end to end, with the real bundled Whisper: bad inputs, cache reuse, resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import validate_config
from pipelines.runner import EXIT_ITEMS_FAILED, Runner
from pipelines.store import RunStore
from tests.conftest import SAMPLES, config_dict, copy_sample, write_manifest

STAGES = ["extract_frames", "transcribe_audio", "summarize"]
BAD = {"missing", "zero", "truncated", "textfile"}
FAILED = {"extract_frames": BAD, "transcribe_audio": BAD - {"truncated"}, "summarize": BAD}  # see the truncated test


def runner(tmp_path: Path, manifest: Path, run_id: str = "r", **kw) -> Runner:
    cfg = validate_config(config_dict(manifest, batch_size=kw.pop("batch_size", 2)))
    return Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", run_id=run_id, show_progress=False, **kw)


def shard_bytes(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted((run_dir / "records").rglob("*.jsonl"))}


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory: pytest.TempPathFactory):
    """One run over good items and every kind of bad input, then the same run again."""
    tmp_path = tmp_path_factory.mktemp("bad")
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
    first = runner(tmp_path, media / "manifest.csv").run()
    before = shard_bytes(first.run_dir)
    second = runner(tmp_path, media / "manifest.csv").run()
    return first, before, second


def reasons(store: RunStore, stage: str) -> dict[str, str]:
    return {e.item_id: e.reason for e in store.errors(stage)}


@pytest.mark.parametrize(
    ("item_id", "stage", "expected"),
    [
        ("missing", "extract_frames", "video file not found: missing.mp4"),
        ("missing", "transcribe_audio", "video file not found: missing.mp4"),
        ("zero", "extract_frames", "video file is empty (0 bytes): zero.mp4"),
        ("zero", "transcribe_audio", "video file is empty (0 bytes): zero.mp4"),
        ("truncated", "extract_frames", "cannot decode video truncated.mp4"),
        ("textfile", "extract_frames", "cannot decode video notes.mp4: not a readable video file"),
        ("textfile", "transcribe_audio", "cannot read media file notes.mp4"),
        ("escape", "load_items", "path '../../etc/passwd' escapes the data root"),
        ("latin1", "load_items", "field 'title' is not valid UTF-8"),
    ],
)
def test_each_bad_input_gets_a_clear_one_line_error(bad_run, item_id: str, stage: str, expected: str):
    first, _, _ = bad_run
    reason = reasons(RunStore(first.run_dir), stage)[item_id]
    assert expected in reason
    assert "\n" not in reason and "Traceback" not in reason
    if stage != "load_items":  # and the item's later stages say why they skipped it
        skipped = reasons(RunStore(first.run_dir), "summarize")[item_id]
        assert skipped.startswith("skipped: ") and stage in skipped and skipped.endswith("failed for this item")


def test_truncated_file_keeps_its_decoded_speech_flagged(bad_run):
    """The cut file's audio decodes up to the cut: transcribe_audio keeps that and says so
    (its picture does not decode, so extract_frames, and with it summarize, fail)."""
    first, _, _ = bad_run
    store = RunStore(first.run_dir)
    cut = next(r for r in store.records("transcribe_audio") if r.item_id == "truncated")
    assert cut.audio_truncated and cut.segments and cut.audio_duration_s == pytest.approx(8.0, abs=0.1)
    assert all(s.end_s <= cut.duration_s < 0.9 * cut.audio_duration_s for s in cut.segments)


def test_video_without_audio_is_flagged_and_completes(bad_run):
    first, _, _ = bad_run
    store = RunStore(first.run_dir)
    silent = next(r for r in store.records("transcribe_audio") if r.item_id == "silent")
    assert silent.no_audio and not silent.segments
    assert "silent" in {r.item_id for r in store.records("summarize")}
    assert "(the video has no audio track)" in first.records["summarize"]["silent"].text


def test_good_items_complete_beside_bad_ones(bad_run):
    first, _, _ = bad_run
    assert first.exit_code == EXIT_ITEMS_FAILED
    store = RunStore(first.run_dir)
    for stage in STAGES:
        assert {"good", "silent"} <= {r.item_id for r in store.records(stage)}, stage
        assert set(reasons(store, stage)) == FAILED[stage], stage
    assert "espresso" in first.records["summarize"]["good"].text.lower()
    manifest = store.read_manifest()
    assert manifest["status"] == "completed_with_errors"
    assert manifest["load_errors"] == 2 and manifest["items"] == 6
    assert manifest["models"]["transcribe_audio"] == [{"ref": "bundled:whisper-tiny.en",
                                                        "fingerprint": "bundled:whisper-tiny.en@0.1.0"}]
    assert manifest["packages"]["faster-whisper"]


def test_rerun_keeps_finished_records_and_retries_only_failures(bad_run):
    first, before, second = bad_run
    assert second.exit_code == EXIT_ITEMS_FAILED
    after = shard_bytes(first.run_dir)
    assert all(after[name] == data for name, data in before.items())
    for stage in STAGES:
        assert second.stages[stage].computed == 0, stage  # only failed items were retried, and failed again
        assert second.stages[stage].done_before == first.stages[stage].ok
        assert second.stages[stage].failed + second.stages[stage].skipped == len(FAILED[stage])


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


def test_resume_recomputes_records_whose_frame_files_are_gone(tmp_path: Path):
    import shutil

    media = tmp_path / "media"
    manifest = write_manifest(media, [{"id": "espresso", "path": copy_sample("espresso.mp4", media)}])
    first = runner(tmp_path, manifest).run()
    shutil.rmtree(tmp_path / "cache" / "artifacts")
    again = runner(tmp_path, manifest).run()
    assert again.stages["extract_frames"].computed == 1 and again.stages["extract_frames"].done_before == 0
    assert all(Path(f.path).is_file() for f in again.records["extract_frames"]["espresso"].frames)
    assert again.stages["transcribe_audio"].done_before == 1  # records without files are kept
    assert first.records["extract_frames"]["espresso"].key == again.records["extract_frames"]["espresso"].key


def test_empty_dataset_and_bad_run_ids_are_refused(tmp_path: Path):
    from pipelines.errors import ConfigError, DatasetError

    (tmp_path / "m.csv").write_text("id,path,title\n")
    with pytest.raises(DatasetError, match="has no items"):
        runner(tmp_path, tmp_path / "m.csv").run()
    for bad in ("../escape", "", "a/b", ".hidden"):
        with pytest.raises(ConfigError, match="must be a plain name"):
            runner(tmp_path, tmp_path / "m.csv", run_id=bad)


def test_new_weights_under_the_same_name_are_a_new_key(tmp_path: Path):
    """A local model directory whose files change gets new records (the key stamps the weights)."""
    from pipelines.models.bundled import model_fingerprint

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"one")
    before = model_fingerprint(str(folder))
    (folder / "weights.bin").write_bytes(b"three")
    assert model_fingerprint(str(folder)) != before
    assert model_fingerprint("bundled:whisper-tiny.en").startswith("bundled:whisper-tiny.en@0.1")
    assert model_fingerprint("org/some-model") == "org/some-model"


def test_progress_is_a_callback_the_caller_gives(tmp_path: Path):
    """A notebook or a log shows progress its own way: the runner calls ``progress(stage,
    total)`` for each stage and ``advance(n)`` as each batch finishes; a warm re-run has nothing
    to compute."""
    from contextlib import contextmanager

    seen: dict[str, list[int]] = {}

    @contextmanager
    def count(stage: str, total: int):
        seen[stage] = [total, 0]

        def advance(n: int) -> None:
            seen[stage][1] += n

        yield advance

    media = tmp_path / "media"
    rows = [{"id": n, "path": copy_sample(f"{n}.mp4", media)} for n in ("espresso", "horse_silent", "rocket_countdown")]
    cfg = validate_config(config_dict(write_manifest(media, rows), stages={"extract_frames": {"num_frames": 2}},
                                      batch_size=2))
    for expected in ({"extract_frames": [3, 3]}, {"extract_frames": [0, 0]}):
        seen.clear()
        Runner(cfg, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", progress=count).run()
        assert seen == expected


def test_the_former_name_reads_still_declares_the_item_parts() -> None:
    """`reads=` became `item_parts=` (what of the item goes into the key): a plug-in stage
    written with the old name keeps working, with a warning that names the new one."""
    from typing import ClassVar

    from pipelines.records import RECORD_TYPES, Record
    from pipelines.stages import STAGES, StageConfig, stage

    class OldStyleRecord(Record):
        stage_name: ClassVar[str] = "old_style"

    try:
        with pytest.warns(DeprecationWarning, match="item_parts"):
            @stage("old_style", version=1, config=StageConfig, record=OldStyleRecord, reads=("metadata",))
            def old_style(item, cfg, ctx):  # noqa: ANN001, ANN202
                return OldStyleRecord(**ctx.provenance)
        assert STAGES["old_style"].item_parts == ("metadata",)
    finally:
        STAGES.pop("old_style", None)
        RECORD_TYPES.pop("old_style", None)
