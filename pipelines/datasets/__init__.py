"""Dataset adapters: turn a manifest (or a benchmark's own files) into :class:`Item` rows."""

from __future__ import annotations

from typing import Any

from pipelines.datasets.manifest import LoadedDataset, load_manifest


def load_dataset(cfg: Any) -> LoadedDataset:
    """Items of the ``dataset`` block of a config (``adapter``: ``manifest``, ``folder``, ``vpd`` or
    ``film``)."""
    if cfg.adapter == "vpd":
        from pipelines.datasets.vpd import load_vpd

        return load_vpd(cfg.path, cfg.videos_dir, split=cfg.split, require_video=cfg.require_video)
    if cfg.adapter == "folder":
        from pipelines.datasets.folder import load_folder

        return load_folder(cfg.path, getattr(cfg, "labels_file", None), split=cfg.split)
    if cfg.adapter == "film":
        from pipelines.datasets.film import load_film

        return load_film(cfg.path, cfg.data_root, cfg.split, metadata_dir=cfg.metadata_dir, shots_file=cfg.shots_file)
    return load_manifest(cfg.path, cfg.data_root, cfg.split)


__all__ = ["LoadedDataset", "load_dataset", "load_manifest"]
