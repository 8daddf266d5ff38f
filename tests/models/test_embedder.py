"""The bundled MiniLM through TextEmbedder: a text's vector does not depend on the torch threads
of the process that computes it (a Ray actor has one; this process may have several: on an
AVX-512/AMX Xeon, MiniLM's vectors differ in the last bits between 1 and 2 threads)."""

from __future__ import annotations

import numpy as np
import torch

from pipelines.models.embedder import TextEmbedder

TEXTS = ["The rocket climbs into the blue sky after the countdown.",
         "A cat sleeps all day on the sofa and wakes up for dinner. " * 6]


def test_a_vector_is_the_same_bits_whatever_the_processs_torch_threads():
    embedder = TextEmbedder("bundled:all-minilm-l6-v2")
    before = torch.get_num_threads()
    vectors = []
    try:
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            vectors.append(embedder.embed(TEXTS))
            assert torch.get_num_threads() == threads  # the embedder restores the process's setting
    finally:
        torch.set_num_threads(before)
    assert vectors[0].shape == (2, 384) and np.allclose(np.linalg.norm(vectors[0], axis=1), 1, atol=1e-5)
    assert all(np.array_equal(vectors[0], v) for v in vectors[1:])
