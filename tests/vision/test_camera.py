"""Camera movement from global optical flow: a window moving over a real photo."""

import numpy as np
import pytest
from sklearn.datasets import load_sample_image

from pipelines.datasets.synthetic_film import _window
from pipelines.vision.camera import CAMERA_MOVEMENTS, camera_motion, name_movement


@pytest.mark.parametrize("movement", CAMERA_MOVEMENTS)
def test_each_movement_over_a_real_photo(movement):
    photo = load_sample_image("china.jpg")
    times = np.linspace(0.1, 1.9, 7)
    frames = [_window(photo, movement, t / 2.0) for t in times]
    pairs = [(a, b, 0.3) for a, b in zip(frames, frames[1:])]
    motion = camera_motion(pairs)
    assert motion.movement == movement and motion.pairs == len(pairs)


def test_flat_frames_are_unknown_not_static():
    black = np.zeros((360, 640, 3), np.uint8)
    motion = camera_motion([(black, black, 0.2)] * 3)
    assert motion.movement == "unknown" and motion.pairs == 0 and motion.dx is None
    assert camera_motion([]).movement == "unknown"


def test_names_follow_the_documented_signs():
    assert name_movement(-0.1, 0, 0) == "pan right"  # the picture moves left
    assert name_movement(0, 0.1, 0) == "tilt up"  # the picture moves down
    assert name_movement(0.1, 0.1, 0.05) == "zoom in"
    assert name_movement(0.01, -0.02, 0.01) == "static"
