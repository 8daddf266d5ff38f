"""EfficientNet-Lite0 ImageNet classifier on real photos from scikit-image, with the bundled weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from pipelines.errors import BadInputError, ConfigError
from pipelines.models.imagenet import ImageNetClassifier, Label, imagenet_names, imagenet_synonyms


@pytest.fixture(scope="module")
def classifier() -> ImageNetClassifier:
    return ImageNetClassifier()


def _words(label: Label) -> set[str]:
    return {label.name, *imagenet_synonyms(label.index)}


def test_class_names() -> None:
    names = imagenet_names()
    assert len(names) == 1000
    assert names[967] == "espresso"
    assert "cup" in imagenet_synonyms(968)
    assert imagenet_synonyms(281) == ["tabby", "tabby cat"]
    with pytest.raises(IndexError):
        imagenet_synonyms(1000)


def test_coffee_is_espresso(classifier: ImageNetClassifier) -> None:
    labels = classifier.classify([data.coffee()])[0]
    assert len(labels) == 5
    assert [label.score for label in labels] == sorted((label.score for label in labels), reverse=True)
    assert any({"espresso", "cup"} & _words(label) for label in labels[:3])
    assert labels[0].score > 0.5


def test_chelsea_is_a_cat(classifier: ImageNetClassifier) -> None:
    labels = classifier.classify([data.chelsea()], top_k=3)[0]
    assert len(labels) == 3
    assert any(any("cat" in synonym.split() for synonym in imagenet_synonyms(label.index)) for label in labels)
    assert sum(label.score for label in labels) > 0.5


def test_rocket_is_a_rocket(classifier: ImageNetClassifier) -> None:
    labels = classifier.classify([data.rocket()])[0]
    words = set().union(*(_words(label) for label in labels))
    assert words & {"missile", "projectile", "space shuttle"}


def test_batch_equals_single_images(classifier: ImageNetClassifier) -> None:
    coffee, chelsea = data.coffee(), data.chelsea()
    batched = classifier.classify([coffee, chelsea])
    single = classifier.classify([coffee]) + classifier.classify([chelsea])
    assert len(batched) == 2
    for got, want in zip(batched, single):
        assert [label.index for label in got] == [label.index for label in want]
        assert [label.name for label in got] == [label.name for label in want]
        assert np.allclose([label.score for label in got], [label.score for label in want], atol=1e-3)


def test_empty_batch(classifier: ImageNetClassifier) -> None:
    assert classifier.classify([]) == []


def test_grayscale_input(classifier: ImageNetClassifier) -> None:
    camera = data.camera()
    assert camera.ndim == 2
    labels = classifier.classify([camera])[0]
    assert labels[0].name == "tripod"


def test_rgba_input_matches_rgb(classifier: ImageNetClassifier) -> None:
    coffee = data.coffee()
    alpha = np.full(coffee.shape[:2] + (1,), 255, dtype=np.uint8)
    rgba = np.concatenate([coffee, alpha], axis=2)
    from_rgba, from_rgb = classifier.classify([rgba, coffee], top_k=1)
    assert from_rgba == from_rgb
    assert from_rgba[0].name == "espresso"


def test_tiny_image_is_rejected(classifier: ImageNetClassifier) -> None:
    with pytest.raises(BadInputError, match="8x8"):
        classifier.classify([np.zeros((1, 1, 3), dtype=np.uint8)])


@pytest.mark.parametrize(
    "image",
    [np.zeros((32, 32, 2), dtype=np.uint8), np.zeros((2, 32, 32, 3), dtype=np.uint8), np.zeros((32, 32, 3))],
    ids=["two-channels", "4d", "float"],
)
def test_unsupported_image_is_rejected(classifier: ImageNetClassifier, image: np.ndarray) -> None:
    with pytest.raises(BadInputError):
        classifier.classify([data.coffee(), image])


def test_missing_weights_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        ImageNetClassifier(str(tmp_path / "missing.pth"))


def test_weights_that_do_not_fit(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(ConfigError, match="cannot load"):
        ImageNetClassifier(str(path))
