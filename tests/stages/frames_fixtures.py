"""Helpers for the frame stages: real frames of the sample clips, and bad frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipelines.records import FrameRef, FramesRecord, Item, VideoInfo
from pipelines.stages.extract_frames import ExtractFramesConfig, extract_frames
from tests.conftest import SAMPLES, make_ctx, sample_item
from tests.media import write_jpeg


def frames_of(row: dict[str, Any], tmp_path: Path, **cfg: Any) -> tuple[Item, FramesRecord]:
    item = sample_item(row)
    record = extract_frames(item, ExtractFramesConfig(**cfg), make_ctx("extract_frames", tmp_path / row["id"]))
    return item, record


def single_frame_record(path: Path, width: int, height: int, item_id: str = "item") -> FramesRecord:
    return FramesRecord(
        item_id=item_id, stage="extract_frames", stage_version=1, key="k", input_hash="i", config_hash="c",
        mode="uniform", video=VideoInfo(fps=25, num_frames=1, duration_s=0.04, width=width, height=height),
        frames=[FrameRef(index=0, timestamp_s=0.0, requested_s=0.0, path=str(path), width=width, height=height)],
    )


def bad_frame_items(tmp_path: Path, good_jpeg: Path) -> list[tuple[Item, FramesRecord]]:
    """Five items whose only frame is: good, 1x1 px, grayscale, 8K, a corrupt JPEG."""
    from PIL import Image

    tmp_path.mkdir(parents=True, exist_ok=True)
    video = SAMPLES / "espresso.mp4"
    rng = np.random.default_rng(0)
    one = write_jpeg(tmp_path / "one.jpg", np.zeros((1, 1, 3), dtype=np.uint8))
    grey = tmp_path / "grey.jpg"
    Image.fromarray(rng.integers(0, 255, (240, 320), dtype=np.uint8), mode="L").save(grey)
    big = np.asarray(Image.open(good_jpeg).convert("RGB").resize((7680, 4320)))
    eight_k = write_jpeg(tmp_path / "8k.jpg", big)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(good_jpeg.read_bytes()[:300])
    out = []
    for item_id, path, (w, h) in [
        ("good", good_jpeg, Image.open(good_jpeg).size), ("one_px", one, (1, 1)), ("grey", grey, (320, 240)),
        ("eight_k", eight_k, (7680, 4320)), ("corrupt", corrupt, (640, 360)),
    ]:
        item = Item(item_id=item_id, video="espresso.mp4", video_path=str(video))
        out.append((item, single_frame_record(path, w, h, item_id)))
    return out


def bad_frame_ctxs(stage: str, items: list[tuple[Item, FramesRecord]], tmp_path: Path, models: Any = None) -> list[Any]:
    from pipelines.executors import WorkItem

    return [WorkItem(item, make_ctx(stage, tmp_path / item.item_id, {"extract_frames": rec}, models=models))
            for item, rec in items]
