"""Text embeddings with sentence-transformers, from a bundled model, a directory or an id in
the local HF cache (the paper used MPNet, ``sentence-transformers/all-mpnet-base-v2``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.errors import ConfigError
from pipelines.models.bundled import resolve_model


class TextEmbedder:
    def __init__(self, model: str, *, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer

        self.name = model
        try:
            self.model: Any = SentenceTransformer(resolve_model(model), device=device, local_files_only=True)
        except Exception as exc:
            raise ConfigError(
                f"cannot load sentence-transformers model {model!r} ({str(exc).splitlines()[0][:160]}); give a local "
                "directory, an id in the local HF cache, or 'bundled:all-minilm-l6-v2'"
            ) from None

    def embed(self, texts: list[str], *, normalize: bool = True, batch_size: int = 32) -> np.ndarray:
        """float32 array (len(texts), dim); rows L2-normalised when ``normalize``."""
        vectors = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=normalize,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)
