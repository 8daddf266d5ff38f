import numpy as np
from skimage import data

from pipelines.models.ocr import TextReader
from tests.media import stroop_frame


def test_reads_the_stroop_word_and_skips_recognition_without_text():
    reader = TextReader()
    result = reader.read(stroop_frame("GREEN"))
    assert [line.text for line in result.lines] == ["GREEN"]
    assert result.lines[0].confidence > 0.9 and result.recognised
    xs = [x for x, _ in result.lines[0].box]
    assert min(xs) < 100 and max(xs) > 500  # the box spans the word
    blank = reader.read(np.zeros((360, 640, 3), dtype=np.uint8))
    assert blank.lines == [] and not blank.recognised and "rec" not in blank.seconds
    assert reader.read(data.coffee()).lines == []
