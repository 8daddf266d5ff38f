"""Benchmark: the pipeline's own overhead = a run's wall time / the time spent inside the stage
functions (model calls and their pre- and post-processing, model loading included).

Runs the demo config cold (fresh run and cache folders) and sums each computed record's
``seconds`` (a batched stage's batch time is shared out among its records, so the sum is the
time inside the stage functions). Everything else — loading the dataset, hashing videos,
planning and the cost estimate, writing shards and cache entries, progress — is overhead.

    .venv/bin/python bench/overhead.py [--config pipelines/configs/popularity.yaml] [--limit N]

Target: ratio ≤ 1.10. Prints per stage too; timings on shared machines are noisy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "pipelines" / "configs" / "popularity.yaml")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()

    from pipelines.config import load_config
    from pipelines.runner import Runner

    tmp = Path(tempfile.mkdtemp(prefix="m2t-overhead-"))
    result = Runner(load_config(args.config), runs_dir=tmp / "runs", cache_dir=tmp / "cache", limit=args.limit,
                    show_progress=False).run()
    print(f"{'stage':<20}{'stage s':>10}{'inside s':>10}{'ratio':>8}")
    inside_total = 0.0
    for name, stats in result.stages.items():
        inside = sum(r.seconds or 0.0 for r in result.records[name].values())  # a cold run: all computed
        inside_total += inside
        ratio = stats.seconds / inside if inside else float("nan")
        print(f"{name:<20}{stats.seconds:>10.2f}{inside:>10.2f}{ratio:>8.2f}")
    print(f"\n{len(result.items)} items, wall {result.seconds:.1f} s, inside the stage functions {inside_total:.1f} s: "
          f"overhead ratio {result.seconds / inside_total:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
