from pathlib import Path

import pytest

from pipelines.config import validate_config
from pipelines.describers.offline import compose_sentence, merge_labels
from pipelines.executors import LocalExecutor, WorkItem
from pipelines.records import ImageLabel
from pipelines.stages import get_stage
from pipelines.stages.describe_frames import DescribeFramesConfig
from pipelines.stages.registry import ModelPool
from tests.conftest import make_ctx
from tests.stages.frames_fixtures import frames_of
from tests.tiny_models import build_tiny_blip


def test_sentence_is_deterministic_and_complete():
    facts = {"shot_scale": "close-up", "faces": 1, "lighting_key": "low-key", "dominant_colour": "blue",
             "colour_temperature": "cool"}
    labels = [ImageLabel(name="espresso", score=0.9), ImageLabel(name="cup", score=0.2)]
    sentence = compose_sentence(labels, ["GREEN"], facts)
    assert sentence == ('Close-up with 1 face; looks like espresso, cup; on-screen text "GREEN"; '
                        "low-key lighting, dominant colour blue, cool tones.")
    assert compose_sentence([], [], {**facts, "shot_scale": None, "faces": 0}).startswith(
        "Frame without faces; no confident object label;")


def test_labels_with_the_same_name_are_summed():
    from pipelines.models.imagenet import Label

    merged = merge_labels([Label(657, "missile", 0.3), Label(1, "mosque", 0.15), Label(744, "missile", 0.2),
                           Label(2, "kite", 0.05)], min_score=0.1)
    assert [(l.name, l.score) for l in merged] == [("missile", 0.5), ("mosque", 0.15)]


def run_stage(rows, names, cfg, tmp_path, uses=None, pool=None):
    spec = get_stage("describe_frames")
    tasks = []
    for name in names:
        row = next(r for r in rows if r["id"] == name)
        item, frames = frames_of(row, tmp_path, num_frames=4)
        tasks.append(WorkItem(item, make_ctx("describe_frames", tmp_path / name, {"extract_frames": frames, **(uses or {})},
                                         models=pool or ModelPool())))
    return LocalExecutor().run_batch(spec, cfg, tasks)


def test_offline_describer_on_sample_clips(sample_rows, tmp_path: Path):
    outcomes = run_stage(sample_rows, ["espresso", "cat_sofa"], DescribeFramesConfig(), tmp_path)
    espresso, cat = (o.record for o in outcomes)
    assert espresso.backend == "offline"
    assert get_stage("describe_frames").model_of(DescribeFramesConfig()) == "bundled:efficientnet-lite0"
    first = espresso.descriptions[0]
    assert "espresso" in first.text and first.labels[0].name == "espresso"
    assert "warm tones" in first.text
    assert any("cat" in d.text for d in cat.descriptions)
    assert [d.timestamp_s for d in cat.descriptions] == sorted(d.timestamp_s for d in cat.descriptions)


def test_hf_backend_describes_each_frame_alone_whatever_the_batch(sample_rows, tmp_path: Path):
    model_dir = build_tiny_blip(tmp_path / "tiny-blip")
    pool = ModelPool()
    cfg = DescribeFramesConfig(backend="hf", model=str(model_dir), batch_size=8, max_new_tokens=8)
    outcomes = run_stage(sample_rows, ["espresso", "cat_sofa"], cfg, tmp_path, pool=pool)
    assert all(o.record is not None for o in outcomes), [o.error for o in outcomes]
    (describer,) = pool.loaded().values()
    assert describer.generate_calls == 8  # 2 items x 4 frames, one call each
    alone = run_stage(sample_rows, ["cat_sofa"], cfg.model_copy(update={"batch_size": 1}), tmp_path / "alone", pool=pool)
    assert alone[0].record.descriptions == outcomes[1].record.descriptions
    for outcome in outcomes:
        rec = outcome.record
        assert rec.backend == "hf" and rec.prompt_id == "describe_frames.neutral" and rec.prompt_version == 1
        assert len(rec.descriptions) == 4 and all(isinstance(d.text, str) for d in rec.descriptions)


def test_hf_backend_needs_a_model():
    with pytest.raises(ValueError, match="backend 'hf' needs 'model'"):
        DescribeFramesConfig(backend="hf")


def test_prompt_version_is_part_of_the_cache_key(tmp_path: Path):
    from pipelines.runner import Runner

    base = {"name": "t", "task": "popularity", "dataset": {"path": "x.jsonl"},
            "stages": {"extract_frames": {}, "describe_frames": {"backend": "hf", "model": "m"}}}
    film = {**base, "stages": {"extract_frames": {}, "describe_frames": {"backend": "hf", "model": "m", "prompt": "describe_frames/film"}}}
    runs = [Runner(validate_config(c), runs_dir=tmp_path, cache_dir=tmp_path) for c in (base, film)]
    manifests = [r._start_manifest([], []) for r in runs]
    assert [m["prompts"][0]["id"] for m in manifests] == ["describe_frames.neutral", "describe_frames.film"]
    assert manifests[0]["stages"][1]["config_hash"] != manifests[1]["stages"][1]["config_hash"]


def no_video_frames(item_id: str):
    from pipelines.records import FramesRecord

    return FramesRecord(item_id=item_id, stage="extract_frames", stage_version=2, key="k", input_hash="i",
                        config_hash="c", mode="uniform", video=None, frames=[], no_video=True)


def test_items_without_frames_get_empty_records(sample_rows, tmp_path: Path):
    from pipelines.records import Item

    spec = get_stage("describe_frames")
    pool = ModelPool()
    alone = [WorkItem(Item(item_id="podcast"), make_ctx("describe_frames", tmp_path / "p",
                                                    {"extract_frames": no_video_frames("podcast")}, models=pool))]
    (outcome,) = LocalExecutor().run_batch(spec, DescribeFramesConfig(), alone)
    assert outcome.record is not None and outcome.record.descriptions == []
    assert pool.loads == []  # nothing to describe, no model loaded

    row = next(r for r in sample_rows if r["id"] == "espresso")
    item, frames = frames_of(row, tmp_path, num_frames=4)
    mixed = alone + [WorkItem(item, make_ctx("describe_frames", tmp_path / "e", {"extract_frames": frames}, models=pool))]
    podcast, espresso = LocalExecutor().run_batch(spec, DescribeFramesConfig(), mixed)
    assert podcast.record.descriptions == [] and len(espresso.record.descriptions) == 4


def test_offline_labels_do_not_depend_on_how_frames_are_batched(sample_rows, tmp_path: Path):
    """A frame's scores must not change with the frames that share its forward pass (where
    this test was written, the frame at 1.8 s of this clip scored moped 0.5501 alone and 0.55
    in any batch: batched float arithmetic differs in the last bits)."""
    spec = get_stage("describe_frames")
    pool = ModelPool()
    rows = {r["id"]: r for r in sample_rows}

    def labels(names: list[str], cfg: DescribeFramesConfig) -> list[list[tuple[str, float]]]:
        tasks = []
        for name in names:
            item, frames = frames_of(rows[name], tmp_path / "frames", mode="fps", fps=1, start_s=1.8)
            ctx = make_ctx("describe_frames", tmp_path / name, {"extract_frames": frames}, models=pool)
            tasks.append(WorkItem(item, ctx))
        record = LocalExecutor().run_batch(spec, cfg, tasks)[-1].record
        return [[(label.name, label.score) for label in d.labels] for d in record.descriptions]

    alone = labels(["motorcycle_ride"], DescribeFramesConfig(batch_size=1))
    assert labels(["motorcycle_ride"], DescribeFramesConfig()) == alone
    assert labels(["espresso", "motorcycle_ride"], DescribeFramesConfig(batch_size=4)) == alone
