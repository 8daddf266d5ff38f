"""Benchmark: how much faster is a second run of the same config, served from the cache?

Runs a case-study config twice into fresh run directories that share one fresh cache:
the first run computes everything (loads Whisper, decodes video), the second must load no
model and copy every record from the cache. Prints both times and their ratio, in-process
(the runner's own wall time) and as whole `m2t run` processes (interpreter start included).

    .venv/bin/python bench/cache_speedup.py [--config pipelines/configs/popularity.yaml]

Exits 1 if the second run loaded a model or computed anything (a cache bug), never on the
ratio alone: timings on shared machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def in_process(config: Path, runs: Path, cache: Path, run_id: str):
    from pipelines.config import load_config
    from pipelines.runner import Runner

    return Runner(load_config(config), runs_dir=runs, cache_dir=cache, run_id=run_id, show_progress=False).run()


def as_process(config: Path, runs: Path, cache: Path, run_id: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", str(config), "--run-id", run_id, "--runs-dir", str(runs),
         "--cache-dir", str(cache), "--no-progress"],
        cwd=ROOT, check=True, capture_output=True,
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "pipelines" / "configs" / "popularity.yaml")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        runs, cache = Path(tmp) / "runs", Path(tmp) / "cache"
        cold = in_process(args.config, runs, cache, "cold")
        warm = in_process(args.config, runs, cache, "warm")
        proc_cold = as_process(args.config, runs, Path(tmp) / "cache2", "proc-cold")
        proc_warm = as_process(args.config, runs, Path(tmp) / "cache2", "proc-warm")

    computed = sum(s.computed for s in warm.stages.values())
    result = {
        "config": str(args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config),
        "items": len(cold.items),
        "first_run_s": round(cold.seconds, 3),
        "second_run_s": round(warm.seconds, 4),
        "ratio": round(cold.seconds / warm.seconds, 1),
        "first_run_model_loads": [m["model"] for m in cold.model_loads],
        "second_run_model_loads": [m["model"] for m in warm.model_loads],
        "second_run_computed_records": computed,
        "process_first_s": round(proc_cold, 2),
        "process_second_s": round(proc_warm, 2),
        "process_ratio": round(proc_cold / proc_warm, 1),
    }
    print(f"items: {result['items']}")
    print(f"first run  (computes, loads {len(cold.model_loads)} model(s)): {cold.seconds:8.3f} s")
    print(f"second run (cache, loads {len(warm.model_loads)} model(s)):    {warm.seconds:8.4f} s")
    print(f"ratio (runner wall time):            {result['ratio']:8.1f}x")
    print(f"ratio (whole `m2t run` processes):   {result['process_ratio']:8.1f}x "
          f"({proc_cold:.2f} s vs {proc_warm:.2f} s, interpreter start included)")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "cache_speedup.json").write_text(json.dumps(result, indent=2) + "\n")
    if warm.model_loads or computed:
        print("FAIL: the second run loaded a model or recomputed records")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
