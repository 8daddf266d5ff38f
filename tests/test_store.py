from pathlib import Path

from pipelines.records import ErrorRecord, FrameRef, FramesRecord, SummaryRecord, VideoInfo
from pipelines.store import Cache, RunStore, atomic_write_text, sha256_json

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
