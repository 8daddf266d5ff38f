"""The shot-scale rule of pipelines/vision/framing.py, on its documented thresholds."""

from pipelines.vision.framing import Framing, frame_scale, scale_from_face, scale_from_person, shot_scale


def test_face_bounds():
    assert [scale_from_face(s) for s in (0.7, 0.55, 0.4, 0.28, 0.2, 0.13, 0.1, 0.06, 0.03)] == [
        "extreme close-up", "extreme close-up", "close-up", "close-up", "medium", "medium", "full", "full", "long"]


def test_person_boxes():
    assert scale_from_person((0.3, 0.1, 0.6, 1.0)) == "medium"  # cut by the bottom edge
    assert scale_from_person((0.3, 0.0, 0.6, 0.8)) == "medium"  # cut by the top edge
    assert scale_from_person((0.3, 0.2, 0.6, 0.9)) == "full"  # whole figure, 0.7 high
    assert scale_from_person((0.3, 0.5, 0.4, 0.85)) == "long"  # whole figure, 0.35 high
    assert scale_from_person((0.3, 0.7, 0.4, 1.0)) == "long"  # small, at the edge: still far away


def test_face_decides_unless_small():
    person = [(0.3, 0.2, 0.6, 0.9)]
    assert frame_scale([0.4], person) == Framing("close-up", "face", 0.4)
    assert frame_scale([0.08], person).basis == "person"  # small face: the whole figure decides
    assert frame_scale([0.08], []) == Framing("full", "face", 0.08)
    assert frame_scale([], []) == Framing(None, "none", None)


def test_shot_majority_and_ties():
    f = {s: Framing(s, "face", 0.5) for s in ("close-up", "medium")}
    none = Framing(None, "none", None)
    assert shot_scale([f["close-up"], f["medium"], f["medium"]]) == "medium"
    assert shot_scale([f["close-up"], f["medium"], none]) == "medium"  # tie: nearest the middle
    assert shot_scale([none, none, none]) is None
