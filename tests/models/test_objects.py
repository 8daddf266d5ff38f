"""The COCO detector on real photos, its tiles, and the phrases built from its boxes."""

from types import SimpleNamespace

import numpy as np
import pytest
from skimage import data

from pipelines.models.objects import ObjectDetector, object_phrase, position_name


@pytest.fixture(scope="module")
def detector() -> ObjectDetector:
    return ObjectDetector()


@pytest.mark.parametrize("photo, label", [("astronaut", "person"), ("coffee", "cup"), ("chelsea", "cat")])
def test_bundled_photos(detector, photo, label):
    found = detector.detect(getattr(data, photo)())
    assert found and found[0].label == label and found[0].score >= 0.8
    assert all(0 <= v <= 1 for d in found for v in d.box)


def test_tiles_find_a_small_person_in_a_wide_frame(detector):
    """A person a third of the frame high in a 16:9 frame: squashed into one 300x300 square
    the figure is too thin; the square tiles find it, with the box where it was placed."""
    from pipelines.datasets.synthetic_film import HEIGHT, WIDTH, frame_still

    still = frame_still("figure:astronaut:0.36")
    assert still.shape == (HEIGHT, WIDTH, 3)
    people = [d for d in detector.detect(still) if d.label == "person"]
    assert people, "the tiled search found no person"
    x1, y1, x2, y2 = people[0].box
    assert 0.25 < (x1 + x2) / 2 < 0.6 and abs((y2 - y1) - 0.36) < 0.08 and y2 < 0.97


def test_detections_are_deterministic_and_sorted(detector):
    image = data.coffee()
    first, second = detector.detect(image), detector.detect(image.copy())
    assert first == second
    assert [d.score for d in first] == sorted((d.score for d in first), reverse=True)


def test_a_frame_seen_before_costs_no_forward_pass_and_gives_the_same_boxes():
    """measure_visuals (people, one threshold) and detect_objects (all objects, another) read
    the same frames through one pooled detector: the second reading is the first's numbers."""
    from pipelines.datasets.synthetic_film import frame_still

    wide, photo = frame_still("figure:astronaut:0.36"), data.coffee()
    expected = [ObjectDetector().detect(image, 0.3) for image in (wide, photo)]
    pooled = ObjectDetector()
    first = [pooled.detect(image, 0.5) for image in (wide, photo)]
    passes = []
    forward = pooled.net.forward
    pooled.net = SimpleNamespace(setInput=pooled.net.setInput, forward=lambda: passes.append(1) or forward())
    assert [pooled.detect(image.copy(), 0.3) for image in (wide, photo)] == expected
    assert not passes  # the wide frame's tiles too
    assert [[d for d in found if d.score >= 0.5] for found in expected] == first
    changed = photo.copy()
    changed[0, 0] ^= 1  # one bit of one pixel: another image
    pooled.detect(changed, 0.3)
    assert passes


def test_blank_frame_has_no_objects(detector):
    assert detector.detect(np.zeros((360, 640, 3), np.uint8)) == []


def test_phrases():
    def o(label, position="centre"):
        return SimpleNamespace(label=label, position=position)

    assert object_phrase([o("person"), o("cup", "left"), o("cup", "right"), o("apple", "right")]) == (
        "a person in the centre, 2 cups, an apple on the right")
    assert object_phrase([o("person", "left"), o("person", "right")]) == "2 people"
    assert object_phrase([]) == ""
    assert [position_name(b) for b in ((0, 0, 0.2, 1), (0.3, 0, 0.7, 1), (0.8, 0, 1, 1))] == ["left", "centre", "right"]
