from pathlib import Path

from pipelines.files import atomic_write_text, sha256_json
from pipelines.records import ErrorRecord, FrameRef, FramesRecord, SummaryRecord, VideoInfo
from pipelines.store import Cache, RunStore

PROV = dict(stage_version=1, input_hash="i", config_hash="c")


def summary(item_id: str, key: str = "k") -> SummaryRecord:
    return SummaryRecord(**PROV, item_id=item_id, stage="summarize", key=key, text=f"text {item_id}", sections=["title"])


def test_hash_is_independent_of_key_order():
    assert sha256_json({"a": 1, "b": [1, 2]}) == sha256_json({"b": [1, 2], "a": 1})
    assert sha256_json({"a": 1}) != sha256_json({"a": 2})


def test_atomic_write_leaves_no_temp_files(tmp_path: Path):
    target = tmp_path / "x" / "file.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]


def test_shards_append_and_newest_record_wins(tmp_path: Path):
    store = RunStore(tmp_path / "run")
    store.append_records("summarize", [summary("a", "k1"), summary("b")])
    store.append_records("summarize", [summary("a", "k2")])
    assert [p.name for p in store.shards("summarize")] == ["part-00000.jsonl", "part-00001.jsonl"]
    by_id = {r.item_id: r for r in store.records("summarize")}
    assert by_id["a"].key == "k2" and by_id["b"].key == "k"


def test_errors_file_is_replaced_and_removed(tmp_path: Path):
    store = RunStore(tmp_path / "run")
    store.write_errors("s", [ErrorRecord(item_id="a", stage="s", error_type="E", reason="bad")])
    assert [e.reason for e in store.errors("s")] == ["bad"]
    store.write_errors("s", [])
    assert not store.errors_path("s").exists()


def test_second_lock_on_a_run_is_refused(tmp_path: Path):
    import pytest

    from pipelines.store import RunLockedError

    first, second = RunStore(tmp_path / "run"), RunStore(tmp_path / "run")
    first.lock()
    try:
        with pytest.raises(RunLockedError, match="another process"):
            second.lock()
    finally:
        first.unlock()
    second.lock()
    second.unlock()


def test_cache_hit_needs_the_referenced_files(tmp_path: Path):
    cache = Cache(tmp_path / "cache")
    jpg = cache.artifact_dir("extract_frames", "key1") / "f.jpg"
    jpg.parent.mkdir(parents=True)
    jpg.write_bytes(b"jpeg")
    rec = FramesRecord(
        **PROV, item_id="a", stage="extract_frames", key="key1", mode="uniform",
        video=VideoInfo(fps=25, num_frames=10, duration_s=0.4, width=8, height=8),
        frames=[FrameRef(index=0, timestamp_s=0, requested_s=0, path=str(jpg), width=8, height=8)],
    )
    cache.put(rec)
    assert cache.get("extract_frames", "key1") == rec
    assert cache.get("extract_frames", "other") is None
    jpg.unlink()
    assert cache.get("extract_frames", "key1") is None


def test_cache_ignores_corrupt_entries(tmp_path: Path):
    cache = Cache(tmp_path / "cache")
    cache.put(summary("a", "abc"))
    path = next((tmp_path / "cache").rglob("abc.json"))
    path.write_text("{not json")
    assert cache.get("summarize", "abc") is None


def _quiet_store(path: Path):
    """A store whose damage reports go to a list (not to a listener another test installed)."""
    from pipelines.store import on_damage

    said: list = []
    previous = on_damage(said.append)
    return RunStore(path), said, previous


def test_damaged_shards_cost_only_their_unreadable_lines(tmp_path: Path):
    from pipelines.store import on_damage

    store, said, previous = _quiet_store(tmp_path / "run")
    try:
        first = store.append_records("summarize", [summary("a"), summary("b"), summary("c")])
        lines = first.read_bytes().split(b"\n")
        first.write_bytes(lines[0] + b"\n" + b"\xff\xfe garbage\n" + lines[2][:30])  # b garbled, c cut short
        second = store.append_records("summarize", [summary("d")])
        second.write_bytes(b"")
        errors = store.errors_path("summarize")
        errors.write_text('{"item_id": "x", "stage": "summarize", "error_type": "E", "reason": "r"}\n[1, 2]\n')
        assert [r.item_id for r in store.records("summarize")] == ["a"]
        assert [e.item_id for e in store.errors("summarize")] == ["x"]
        store.records("summarize")  # read again: said once
        assert [(d.path, d.line) for d in said] == [(first, 2), (second, 1), (errors, 2)] == \
            [(d.path, d.line) for d in store.damaged]
        assert "garbage bytes" in said[0].reason and "skipped 2 lines, read the other 1 records" in said[0].note
        assert "empty file" in said[1].reason and "not a JSON object" in said[2].reason
    finally:
        on_damage(previous)


def test_without_a_listener_damage_is_a_python_warning(tmp_path: Path):
    import pytest

    from pipelines.store import DamagedRunWarning, on_damage

    previous = on_damage(None)
    try:
        store = RunStore(tmp_path / "run")
        shard = store.append_records("summarize", [summary("a")])
        shard.write_bytes(shard.read_bytes()[:-5])
        with pytest.warns(DamagedRunWarning, match=f"damaged run file {shard}, line 1: cut short"):
            assert store.records("summarize") == []
    finally:
        on_damage(previous)


def test_unreadable_manifest_stops_a_reader_in_one_line(tmp_path: Path):
    import pytest

    from pipelines.store import DamagedRunError

    store = RunStore(tmp_path / "run")
    store.write_manifest({"run_id": "run", "status": "completed"})
    (store.dir / "manifest.json").write_text('{\n  "run_id": "run",\n  "sta')
    with pytest.raises(DamagedRunError, match=f"damaged run file {store.dir / 'manifest.json'}, line 3: not JSON"):
        store.read_manifest()


def test_repair_sets_damaged_files_aside_and_salvages_readable_records_in_place(tmp_path: Path):
    from pipelines.store import on_damage

    store, said, previous = _quiet_store(tmp_path / "run")
    try:
        first = store.append_records("summarize", [summary("a", "old"), summary("b"), summary("c")])
        store.append_records("summarize", [summary("a", "new")])
        original = first.read_bytes()
        lines = original.split(b"\n")
        first.write_bytes(lines[0] + b"\n" + lines[1][:-3] + b"\x80\n" + lines[2] + b"\n")  # b damaged
        (store.dir / "stats.json").write_text("{")
        damaged = first.read_bytes()
        store.lock()
        notes = store.repair()
        store.unlock()
        kept = list((first.parent / "damaged").glob("part-00000.jsonl.*"))
        assert len(kept) == 1 and kept[0].read_bytes() == damaged  # set aside as it was
        assert first.read_bytes() == lines[0] + b"\n" + lines[2] + b"\n"  # a and c, byte for byte, same place
        assert {r.item_id: r.key for r in store.records("summarize")} == {"a": "new", "c": "k"}  # newest still wins
        assert len(list((store.dir / "damaged").glob("stats.json.*"))) == 1 and not (store.dir / "stats.json").exists()
        assert len(notes) == 2 and f"damaged run file {first}, line 2" in notes[1] and "kept its 2 readable" in notes[1]
        assert store.repair() == [] and not said
    finally:
        on_damage(previous)


def test_state_is_running_only_while_a_process_holds_the_run(tmp_path: Path):
    writer, reader = RunStore(tmp_path / "run"), RunStore(tmp_path / "run")
    writer.lock()
    writer.write_manifest({"status": "running", "pid": 0})
    assert reader.state() == "running"
    writer.unlock()
    assert reader.state() == "interrupted"  # e.g. SIGTERM: the manifest still says running
    writer.lock()  # a probe never makes a starting run fail
    writer.unlock()
    assert reader.state({"status": "completed"}) == "completed"
