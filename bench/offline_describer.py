"""Benchmark: per-frame milliseconds of each part of the offline frame describer.

Extracts 8 frames from every sample clip, then times, per frame: reading the JPEG, the
ImageNet classifier (batched per video, divided per frame), OCR (detector; the recogniser
only runs on frames where text was detected), colour/light facts, face detection, and
composing the sentence; per video: the shot/motion scan.

    .venv/bin/python bench/offline_describer.py [--frames 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from pipelines.datasets.manifest import load_manifest
    from pipelines.describers.offline import compose_sentence, merge_labels
    from pipelines.media import load_frame
    from pipelines.models.faces import FaceDetector
    from pipelines.models.imagenet import ImageNetClassifier
    from pipelines.models.ocr import TextReader
    from pipelines.stages.extract_frames import ExtractFramesConfig, extract_frames
    from pipelines.stages.registry import ModelPool, StageContext
    from pipelines.vision.color import measure_colour
    from pipelines.vision.framing import scale_from_face
    from pipelines.vision.shots import scan_video

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    args = parser.parse_args()

    items = load_manifest(ROOT / "data" / "samples" / "manifest.jsonl").items
    classifier, reader, faces = ImageNetClassifier(), TextReader(), FaceDetector()
    times: dict[str, list[float]] = {k: [] for k in ("load", "imagenet", "ocr_no_text", "ocr_with_text", "colour", "faces", "compose")}
    ocr_parts: dict[str, list[float]] = {"det": [], "cls": [], "rec": []}
    scans: list[float] = []
    skipped = with_text = 0

    def timed(key: str, fn, *a):  # noqa: ANN001, ANN202
        started = time.perf_counter()
        out = fn(*a)
        times[key].append(1000 * (time.perf_counter() - started))
        return out

    with tempfile.TemporaryDirectory() as tmp:
        for item in items:
            provenance = {"item_id": item.item_id, "stage": "extract_frames", "stage_version": 1, "key": "k",
                          "input_hash": "i", "config_hash": "c"}
            ctx = StageContext(ModelPool(), provenance, artifact_dir=Path(tmp) / item.item_id)
            frames = extract_frames(item, ExtractFramesConfig(num_frames=args.frames), ctx).frames
            started = time.perf_counter()
            scan_video(Path(str(item.video_path)))
            scans.append(1000 * (time.perf_counter() - started))
            images = [timed("load", load_frame, f.path, 1024) for f in frames]
            started = time.perf_counter()
            labels = classifier.classify(images, top_k=3)
            times["imagenet"] += [1000 * (time.perf_counter() - started) / len(images)] * len(images)
            for rgb, frame_labels in zip(images, labels):
                started = time.perf_counter()
                ocr = reader.read(rgb)
                elapsed = 1000 * (time.perf_counter() - started)
                if ocr.recognised:
                    with_text += 1
                    times["ocr_with_text"].append(elapsed)
                    for part in ocr_parts:
                        ocr_parts[part].append(1000 * ocr.seconds.get(part, 0.0))
                else:
                    skipped += 1
                    times["ocr_no_text"].append(elapsed)
                colour = timed("colour", measure_colour, rgb)
                found = timed("faces", faces.detect, rgb)
                facts = {"shot_scale": scale_from_face(found[0].height_share) if found else None, "faces": len(found), "lighting_key": colour.lighting_key,
                         "dominant_colour": colour.dominant_colour, "colour_temperature": colour.colour_temperature}
                timed("compose", compose_sentence, merge_labels(frame_labels, 0.1), [l.text for l in ocr.lines], facts)

    n = len(times["load"])
    print(f"{len(items)} videos, {n} frames ({args.frames} per video), 2-core CPU; milliseconds per frame:")
    print(f"{'part':<34}{'mean':>9}{'median':>9}{'frames':>8}")
    for key, values in times.items():
        if values:
            print(f"{key:<34}{statistics.mean(values):9.1f}{statistics.median(values):9.1f}{len(values):8d}")
    for part, values in ocr_parts.items():
        if values:
            print(f"{'  ocr ' + part + ' (frames with text)':<34}{statistics.mean(values):9.1f}{statistics.median(values):9.1f}{len(values):8d}")
    print(f"OCR recogniser skipped on {skipped} of {n} frames (no text detected); ran on {with_text}")
    total = sum(statistics.mean(v) * len(v) for v in times.values() if v) / n
    print(f"all parts, mean per frame: {total:.1f} ms; shot/motion scan per video: {statistics.mean(scans):.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
