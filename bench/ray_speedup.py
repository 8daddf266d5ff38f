"""Benchmark: the Ray executor with 2 single-threaded workers vs 1, on a CPU-bound stage
(measure_visuals: light, colour, cuts, faces, people, camera movement of every sampled frame)
over the sample set. Each variant runs extract_frames + measure_visuals cold, into its own
cache; the ratio compares measure_visuals' compute seconds.

    .venv/bin/python bench/ray_speedup.py [--batch-size 1]

Target: 2 workers ≥ 1.7× faster than 1 on a 2-core machine. What is left of 2× is each actor
loading its own models and the machine's other load (shared CPUs are noisy).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run(actors: int, batch_size: int) -> float:
    from pipelines.config import validate_config
    from pipelines.runner import Runner

    tmp = Path(tempfile.mkdtemp(prefix=f"m2t-ray-{actors}-"))
    cfg = validate_config({
        "name": f"ray-speedup-{actors}", "task": "popularity",
        "dataset": {"path": str(ROOT / "data" / "samples" / "manifest.jsonl")},
        "stages": {"extract_frames": {"num_frames": 8}, "measure_visuals": {}},
        "run": {"batch_size": batch_size, "executor": "ray",
                "ray": {"num_cpus": 2, "default": {"actors": actors, "num_cpus": 1}}},
    })
    result = Runner(cfg, runs_dir=tmp / "runs", cache_dir=tmp / "cache", show_progress=False).run()
    assert result.exit_code == 0, result.summary_line()
    stats = result.stages["measure_visuals"]
    print(f"{actors} worker(s): measure_visuals {stats.compute_seconds:.1f} s for {stats.computed} items "
          f"(run {result.seconds:.1f} s)", flush=True)
    return stats.compute_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=1)
    args = parser.parse_args()
    one = run(1, args.batch_size)
    two = run(2, args.batch_size)
    print(f"2 workers vs 1: {one / two:.2f}x (target >= 1.7)")


if __name__ == "__main__":
    main()
