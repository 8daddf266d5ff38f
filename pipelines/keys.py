"""The cache-key contract: what a record's key is made of.

A record's key is sha256 of the stage's name and version, the stage's config hash
(:func:`stage_config_hash`: its config, prompt files, model weights' identity and extra key)
and the item's input hash (:func:`item_inputs`: the item's id, the keys of the upstream
records it uses, the video's bytes and the metadata the stage reads; for a retrieval stage,
the corpus hash). Same key, same record: the runner takes a record with a known key from the
run or the cache instead of computing it. Changing anything here changes every key.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.files import sha256_file, sha256_json
from pipelines.prompts import load_prompt
from pipelines.records import Item, Record

if TYPE_CHECKING:
    from pipelines.stages.registry import StageSpec


class VideoHasher:
    """Video content hashes, computed once per file per run."""

    def __init__(self) -> None:
        self._memo: dict[str, str] = {}

    def video(self, item: Item) -> str:
        path = item.video_path
        if not path:
            return "no-video"
        if path not in self._memo:
            try:
                self._memo[path] = sha256_file(Path(path))
            except (OSError, ValueError) as exc:  # missing or unreadable: the stage reports it; the key stays stable
                self._memo[path] = f"unreadable:{path}:{type(exc).__name__}"
        return self._memo[path]


def stage_config_hash(spec: StageSpec, cfg: Any) -> str:
    """Hash of everything in the config world that changes the stage's output: its config,
    the prompt files it uses (id, version, text hash), the identity of the model's weights
    (package version or file stamps) and its extra key (e.g. a file's hash).

    The config enters as its pydantic ``str``, which leaves out fields declared with
    ``repr=False``: settings that cannot change a record (e.g. ``embed.batch_size``) are
    declared so, and changing them keeps every cache key."""
    from pipelines.models.bundled import model_fingerprint

    prompts = [load_prompt(p).ref for p in spec.prompt_names(cfg)]
    extra = spec.extra_key(cfg) if spec.extra_key else None
    weights = model_fingerprint(spec.model_of(cfg))
    return sha256_json({"config": cfg, "prompts": prompts, "extra": extra, "weights": weights})


def item_inputs(spec: StageSpec, item: Item, upstream: dict[str, Record], hasher: VideoHasher) -> dict[str, Any]:
    """What of the item the stage's output depends on: its id, the keys of the upstream
    records it uses, and what it ``reads`` of the item (the video's bytes, its metadata)."""
    inputs: dict[str, Any] = {"item_id": item.item_id, "upstream": {k: r.key for k, r in sorted(upstream.items())}}
    if "video" in spec.item_parts:
        inputs["video"] = hasher.video(item)
    if "metadata" in spec.item_parts:
        inputs["metadata"] = item.model_dump(mode="json", include={"title", "description", "metadata"})
    return inputs


def record_key(stage: str, version: int, config_hash: str, inputs: dict[str, Any]) -> tuple[str, str]:
    """The input hash of ``inputs`` and the record key of a stage's output for them."""
    input_hash = sha256_json(inputs)
    return input_hash, sha256_json({"stage": stage, "version": version, "config": config_hash, "input": input_hash})
