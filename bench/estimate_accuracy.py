"""Benchmark: does `m2t run --dry-run` say how long a run takes?

For each config (default: both demo configs), from a fresh, empty cache under ``--work-dir``:

1. **cold** — the dry run's estimate with the default rates (no ``throughput.json``), then
   the real run (``m2t run``, a process of its own); its ``stats.json`` gives the measured
   seconds;
2. **warm** — a second fresh cache holding only the ``throughput.json`` the cold run wrote
   (its learned rates, none of its records): the dry run's estimate, then the real run again,
   computing everything once more.

Prints, per config and phase, the estimate (point and range, and the CPU contention the dry
run measured: it scales the estimate) beside the measured seconds and their ratio, with the
load average (a shared machine slows every stage), and with
``--stages`` the same per stage. Exits 1 when a cold estimate is off by more than 2× or a
warm one by more than 1.5× (either way). ``--stats RUN_DIR`` compares a finished run with the
cold dry run of its config instead of running anything (e.g. ``data/runs/popularity-*``).

    .venv/bin/python bench/estimate_accuracy.py [--configs pipelines/configs/popularity.yaml ...]
        [--phases cold warm] [--work-dir /tmp/m2t-estimate] [--stages]

The runs take minutes (the film config's LLM stages: about ten on 2 idle cores).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CONFIGS = ("pipelines/configs/popularity.yaml", "pipelines/configs/film.yaml")
LIMITS = {"cold": 2.0, "warm": 1.5}


def dry_run(config: Path, runs: Path, cache: Path) -> dict[str, Any]:
    """The dry run's estimates (in this process: it loads no model)."""
    from pipelines.config import load_config
    from pipelines.runner import Runner

    _, _, estimates = Runner(load_config(config), runs_dir=runs, cache_dir=cache, show_progress=False).dry_run()
    return estimates


def real_run(config: Path, runs: Path, cache: Path) -> dict[str, Any]:
    """``m2t run`` as a user starts it; returns its ``stats.json``."""
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", str(config), "--runs-dir", str(runs),
                           "--cache-dir", str(cache), "--no-progress"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 3):
        raise SystemExit(f"m2t run {config} failed ({done.returncode}): {done.stderr[-1500:]}")
    (run_dir,) = [p for p in runs.iterdir() if (p / "stats.json").is_file()]
    return json.loads((run_dir / "stats.json").read_text())


def ratio(estimate: float, measured: float) -> float:
    """How far off, either way (>= 1)."""
    if estimate <= 0 or measured <= 0:
        return float("inf")
    return max(estimate / measured, measured / estimate)


def report(name: str, phase: str, estimates: dict[str, Any], stats: dict[str, Any], show_stages: bool) -> bool:
    from pipelines.estimate import totals

    point, low, high = totals(estimates)
    measured = float(stats["seconds"])
    off = ratio(point, measured)
    ok = off <= LIMITS[phase]
    busy = max((e.contention for e in estimates.values()), default=1.0)
    print(f"{name:11} {phase:5} estimate {point:7.1f} s (range {low:.0f}-{high:.0f}; CPU contention {busy:.1f} when "
          f"estimated)  measured {measured:7.1f} s  estimate/measured {point / measured:5.2f}  "
          f"{'ok' if ok else 'OFF'} (limit {LIMITS[phase]}x)  load average now {os.getloadavg()[0]:.1f}", flush=True)
    if show_stages:
        for stage, e in estimates.items():
            s = stats["stages"].get(stage, {})
            print(f"    {stage:20} estimate {e.seconds:7.1f} ({e.seconds_low:.0f}-{e.seconds_high:.0f}) "
                  f"measured {float(s.get('seconds', 0)):7.1f}  [{e.rate_from}]")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--phases", nargs="+", default=["cold", "warm"], choices=["cold", "warm"])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/m2t-estimate"))
    parser.add_argument("--stages", action="store_true", help="also per stage")
    parser.add_argument("--stats", type=Path, default=None,
                        help="a finished run directory: compare its stats.json with its config's cold dry run")
    args = parser.parse_args()
    os.chdir(ROOT)
    good = True
    if args.stats is not None:
        manifest = json.loads((args.stats / "manifest.json").read_text())
        # the config file the run was started with (its command line), else the demo config of that name
        named = [Path(a) for a in manifest.get("command", []) if a.endswith((".yaml", ".yml"))]
        config = named[0] if named else next(Path(c) for c in args.configs if Path(c).stem == manifest["config_name"])
        empty = args.work_dir / "empty"
        shutil.rmtree(empty, ignore_errors=True)
        estimates = dry_run(config, empty / "runs", empty / "cache")
        stats = json.loads((args.stats / "stats.json").read_text())
        return 0 if report(config.stem, "cold", estimates, stats, args.stages) else 1
    for config in map(Path, args.configs):
        base = args.work_dir / config.stem
        shutil.rmtree(base, ignore_errors=True)  # this benchmark's own folders only
        learned: Path | None = None
        for phase in args.phases:
            runs, cache = base / f"{phase}-runs", base / f"{phase}-cache"
            cache.mkdir(parents=True)
            if phase == "warm":
                if learned is None or not learned.is_file():
                    print(f"{config.stem}: warm needs the cold phase first (its throughput.json)")
                    good = False
                    continue
                shutil.copy(learned, cache / learned.name)
            estimates = dry_run(config, runs, cache)
            started = time.perf_counter()
            stats = real_run(config, runs, cache)
            print(f"    ({config.stem} {phase}: the process took {time.perf_counter() - started:.0f} s)", flush=True)
            good &= report(config.stem, phase, estimates, stats, args.stages)
            learned = cache / "throughput.json"
    return 0 if good else 1


if __name__ == "__main__":
    raise SystemExit(main())
