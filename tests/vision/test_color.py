import numpy as np
import pytest
from skimage import data

from pipelines.vision.color import colour_temperature_k, measure_colour
from tests.media import stroop_frame


def test_stroop_word_green_in_red_is_red():
    facts = measure_colour(stroop_frame("GREEN", ink=(220, 20, 20)))
    assert facts.dominant_colour == "red"
    assert facts.palette[0][0] == "white"  # the page is white; the colour of the frame is the ink
    assert facts.lighting_key == "high-key"


@pytest.mark.parametrize(("ink", "name"), [((20, 160, 40), "green"), ((30, 60, 220), "blue"), ((240, 220, 30), "yellow")])
def test_other_inks(ink, name):
    assert measure_colour(stroop_frame("RED", ink=ink)).dominant_colour == name


def test_dark_frame_is_low_key_and_bright_frame_high_key():
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 50, size=(360, 640, 3), dtype=np.uint8)
    assert measure_colour(dark).lighting_key == "low-key"
    bright = rng.integers(200, 256, size=(360, 640, 3), dtype=np.uint8)
    assert measure_colour(bright).lighting_key == "high-key"
    assert measure_colour(data.coffee()).lighting_key == "mid-key"


def test_colour_temperature_of_reference_colours():
    white = np.full((8, 8, 3), 255, dtype=np.uint8)  # sRGB white is D65, about 6500 K
    assert colour_temperature_k(white) == pytest.approx(6504, abs=50)
    assert measure_colour(np.full((32, 32, 3), (255, 160, 60), dtype=np.uint8)).colour_temperature == "warm"
    assert measure_colour(np.full((32, 32, 3), (140, 170, 255), dtype=np.uint8)).colour_temperature == "cool"
    for deep in ((0, 0, 255), (20, 40, 200), (90, 0, 200)):  # pure blue, navy, violet: far off the locus
        facts = measure_colour(np.full((32, 32, 3), deep, dtype=np.uint8))
        assert (facts.colour_temperature, facts.colour_temperature_k) == ("cool", 20000.0), deep
    for warm in ((255, 0, 0), (230, 0, 120)):  # red, a red-purple
        assert measure_colour(np.full((32, 32, 3), warm, dtype=np.uint8)).colour_temperature == "warm", warm


def test_photo_facts_are_sensible():
    coffee = measure_colour(data.coffee())
    assert coffee.colour_temperature == "warm" and coffee.dominant_colour in {"orange", "brown", "red"}
    grey = measure_colour(np.stack([data.camera()] * 3, axis=-1))
    assert grey.saturation == 0 and grey.dominant_colour in {"grey", "black", "white"}
    assert sum(share for _, share in grey.palette) <= 1.0
