"""Benchmark: measured shot scale and camera movement against the film set's construction.

Generates the film sample set (``m2t data synth --film``) into a temporary folder, unless
``--data`` names an existing one, runs ``extract_frames`` and ``measure_visuals`` on every
clip, and prints for every annotated shot the annotation beside the measurement, then the
accuracy of each (with its bootstrap 95 % interval) and its confusion matrix, and the time
measure_visuals took per clip.

    .venv/bin/python bench/film_measures.py [--data data/samples/film] [--min-accuracy 0.8]

Exits 1 when either accuracy is below ``--min-accuracy``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(manifest: Path, workdir: Path) -> tuple[dict, dict, list[float]]:
    from pipelines.datasets.manifest import load_manifest
    from pipelines.stages.extract_frames import ExtractFramesConfig, extract_frames
    from pipelines.stages.measure_visuals import MeasureVisualsConfig, measure_visuals
    from pipelines.stages.registry import ModelPool, StageContext

    rows = {r["id"]: r for r in map(json.loads, manifest.read_text().splitlines())}
    models = ModelPool()
    visuals, annotations, seconds = {}, {}, []
    for item in load_manifest(manifest).items:
        shots = rows[item.item_id].get("labels", {}).get("shots")
        if not shots:
            continue

        def ctx(stage: str, **inputs):  # noqa: ANN202
            provenance = {"item_id": item.item_id, "stage": stage, "stage_version": 1, "key": "k",
                          "input_hash": "i", "config_hash": "c"}
            return StageContext(models, provenance, upstream=inputs, artifact_dir=workdir / item.item_id)

        frames = extract_frames(item, ExtractFramesConfig(num_frames=8), ctx("extract_frames"))
        started = time.perf_counter()
        visuals[item.item_id] = measure_visuals(item, MeasureVisualsConfig(), ctx("measure_visuals",
                                                                                   extract_frames=frames))
        seconds.append(time.perf_counter() - started)
        annotations[item.item_id] = shots
    return visuals, annotations, seconds


def main() -> int:
    import pandas as pd

    from analysis.film import agreement, shots_table
    from pipelines.vision.camera import CAMERA_MOVEMENTS
    from pipelines.vision.framing import SHOT_SCALES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="an existing film set (its manifest.jsonl); default: generate one")
    parser.add_argument("--min-accuracy", type=float, default=0.8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.data:
            manifest = args.data / "manifest.jsonl"
        else:
            from pipelines.datasets.synthetic_film import generate_film_samples

            started = time.perf_counter()
            manifest = generate_film_samples(Path(tmp) / "film", include_bunny=False)
            print(f"generated the film set in {time.perf_counter() - started:.1f} s")
        visuals, annotations, seconds = measure(manifest, Path(tmp) / "work")

    table = shots_table(visuals, annotations)
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(table.drop(columns=["start_s", "end_s"]).to_string(index=False))
    failed = False
    for what, labels in (("scale", SHOT_SCALES), ("movement", CAMERA_MOVEMENTS)):
        estimate, matrix = agreement(table, what, labels)
        print(f"\n{what}: measured = annotated on {estimate.value:.1%} of {estimate.n} annotated shots "
              f"(95 % CI {estimate.low:.1%}–{estimate.high:.1%})")
        print(matrix.to_string())
        failed |= estimate.value < args.min_accuracy
    print(f"\nmeasure_visuals: {sum(seconds) / len(seconds):.2f} s per clip "
          f"({sum(seconds):.1f} s for {len(seconds)} clips of {table.end_s.max():.0f} s at most)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
