"""Benchmark: requests in flight to a served model (``llm.max_concurrency``).

A fake OpenAI-compatible server on loopback (``tests/fake_openai.py``) answers each request
after ``--latency`` seconds (1.0) with ``--slots`` (32) requests processed at once, as a GPU
server with 32 sequence slots would. ``CachedLLM.answer_all`` sends ``--requests`` (400)
constrained predict requests (each distinct, each cached as it arrives, in a fresh cache)
for each ``max_concurrency`` of ``--concurrency`` (8, 32), then a sample of ``--serial`` (20)
requests at ``max_concurrency`` = 1, whose wall time is scaled to ``--requests`` (one at a time
takes ``latency`` per request, so 400 take about 400 s).

    .venv/bin/python bench/remote_throughput.py [--requests 400] [--latency 1.0] [--slots 32]

Prints wall seconds beside the bound ``1.3 × requests / min(slots, max_concurrency) × latency``
and exits 1 when a run exceeds it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.models.llm import CachedLLM, LLMConfig  # noqa: E402
from pipelines.stages.predict import answer_schema  # noqa: E402
from pipelines.tasks import get_task  # noqa: E402
from tests.fake_openai import FakeOpenAI  # noqa: E402


def wall(server: FakeOpenAI, concurrency: int, n: int, tag: str) -> float:
    cfg = LLMConfig(backend="openai", model=f"served-{tag}", base_url=server.url, max_concurrency=concurrency,
                    timeout_s=30.0)
    schema = answer_schema(get_task("popularity"), 3)
    with tempfile.TemporaryDirectory() as cache:
        llm = CachedLLM(cfg, Path(cache))
        started = time.perf_counter()
        replies = llm.answer_all([([("user", f"video {tag}-{i}: what is its popularity?")], schema)
                                  for i in range(n)])
        seconds = time.perf_counter() - started
    failed = [r for r in replies if not isinstance(r, str)]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed, e.g. {failed[0]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--slots", type=int, default=32)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--serial", type=int, default=20, help="requests sent at max_concurrency = 1 (scaled up)")
    args = parser.parse_args()

    ok = True
    with FakeOpenAI(latency_s=args.latency, slots=args.slots, max_requests=10 * args.requests,
                    lifetime_s=3600) as server:
        print(f"{args.requests} requests, {args.latency:.1f} s latency, {args.slots} server slots")
        print(f"{'max_concurrency':>16} {'wall s':>8} {'bound s':>8} {'req/s':>7}  most in flight")
        serial = wall(server, 1, args.serial, "serial") * args.requests / args.serial
        print(f"{1:>16} {serial:>8.1f} {1.3 * args.requests * args.latency:>8.1f} "
              f"{args.requests / serial:>7.2f}  1 (measured on {args.serial} requests, scaled)")
        for concurrency in args.concurrency:
            server.most_in_flight = 0
            seconds = wall(server, concurrency, args.requests, f"c{concurrency}")
            bound = 1.3 * args.requests / min(args.slots, concurrency) * args.latency
            ok &= seconds <= bound
            print(f"{concurrency:>16} {seconds:>8.1f} {bound:>8.1f} {args.requests / seconds:>7.2f}  "
                  f"{server.most_in_flight}  ({serial / seconds:.1f}x one at a time)")
    print("every run within its bound" if ok else "a run exceeded its bound")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
