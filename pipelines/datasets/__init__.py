"""Dataset adapters: turn a manifest (or a benchmark's own files) into :class:`Item` rows."""

from pipelines.datasets.manifest import LoadedDataset, load_manifest

__all__ = ["LoadedDataset", "load_manifest"]
