"""Text embeddings with sentence-transformers, from a bundled model, a directory or an id in
the local HF cache (the paper used MPNet, ``sentence-transformers/all-mpnet-base-v2``).

Each text is embedded in a forward pass of its own. A padded batch would make a text's vector
depend on the other texts of its batch: padding to the batch's longest text changes the shapes
of the matrix products, whose kernels then sum in another order (differences in the last bits,
enough to reorder near-tied neighbours). Alone, a text always meets the same shapes, so its
vector is the same whatever the batch size or the order of the items;
``bench/batch_invariance.py`` measures what that costs. The forward passes run on one torch
thread: how a product is split across threads changes the last bits too (seen on an
AVX-512/AMX Xeon: 1 and 2 threads differ), and a Ray actor has one thread where this process
may have several, so one thread everywhere gives one vector under any executor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.errors import ConfigError, first_line
from pipelines.models.bundled import resolve_model


class TextEmbedder:
    def __init__(self, model: str, *, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer

        self.name = model
        try:
            self.model: Any = SentenceTransformer(resolve_model(model), device=device, local_files_only=True)
        except Exception as exc:
            raise ConfigError(
                f"cannot load sentence-transformers model {model!r} ({first_line(exc, 160)}); give a local "
                "directory, an id in the local HF cache, or 'bundled:all-minilm-l6-v2'"
            ) from None

    def embed(self, texts: list[str], *, normalize: bool = True) -> np.ndarray:
        """float32 array (len(texts), dim), one forward pass per text (module docstring); rows
        L2-normalised when ``normalize``."""
        if not texts:
            return np.zeros((0, self.model.get_sentence_embedding_dimension() or 0), dtype=np.float32)
        from pipelines.numerics import torch_threads

        with torch_threads(1):  # the same bits in this process and in a one-thread Ray actor (module docstring)
            vectors = self.model.encode(texts, batch_size=1, normalize_embeddings=normalize, convert_to_numpy=True,
                                        show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)
