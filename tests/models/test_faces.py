import numpy as np
from skimage import data

from pipelines.models.faces import FaceDetector
from pipelines.vision.framing import scale_from_face
from tests.media import stroop_frame


def test_astronaut_has_a_face_and_a_medium_shot_scale():
    faces = FaceDetector().detect(data.astronaut())
    assert len(faces) == 1
    face = faces[0]
    assert 150 < face.x + face.w / 2 < 300 and 50 < face.y + face.h / 2 < 180  # Eileen Collins' face
    assert scale_from_face(face.height_share) == "medium"  # waist up


def test_no_faces_in_text_cards_and_objects():
    detector = FaceDetector()
    assert detector.detect(stroop_frame()) == []
    assert detector.detect(data.coffee()) == []


def test_boxes_are_in_original_pixels_for_large_frames():
    import cv2

    big = cv2.resize(data.astronaut(), (2048, 2048))
    (face,) = FaceDetector().detect(big)
    (small,) = FaceDetector().detect(data.astronaut())
    assert abs(face.x - 4 * small.x) < 40 and abs(face.h - 4 * small.h) < 60
    assert abs(face.height_share - small.height_share) < 0.03
    assert isinstance(face.height_share, float) and np.isfinite(face.height_share)
