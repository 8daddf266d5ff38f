"""Shot scale in the five MovieShots classes, from face size or, without a face, the person box.

MovieShots (Rao et al., 2020) defines: *long shot* — people small in their surroundings;
*full shot* — a whole body barely fits; *medium shot* — a figure from the knees or waist
up; *close-up* — a face (or a hand, an object) fills the frame; *extreme close-up* — a part
of a face (eyes, mouth) or a detail. We measure two things and map them:

**Face first.** The height of the largest frontal face (``models/faces.py``) as a share of
the frame height. A Haar face box is about 0.8 of the head's height and an adult is about
7.5 heads tall, so a whole body that fills 90 % of the frame gives a face of ~0.10 and a
waist-up framing (~3.5 heads in frame) ~0.23:

=========================  ==================
largest face / frame h      shot scale
=========================  ==================
≥ 0.55                      extreme close-up
0.28 – 0.55                 close-up
0.13 – 0.28                 medium
0.06 – 0.13                 full
< 0.06                      long
=========================  ==================

**Person box when the face is small or missing** (profiles, backs, distant people): when
no face of at least the *medium* size was found, the tallest COCO ``person`` box of the
object detector (``models/objects.py``) decides instead:

* box cut by the top or bottom edge of the frame (within :data:`EDGE`) and at least
  :data:`MEDIUM_PERSON` of the frame high → ``medium`` (knees or waist up; without a face we
  cannot tell a close-up);
* otherwise the whole figure is in frame: height ≥ :data:`FULL_PERSON` → ``full``, else
  ``long``.

Neither a face nor a person → ``None`` (unknown): landscapes and objects have no person
scale, and the record says so rather than guess. A shot's scale is the majority over the
frames measured in it (ties: the frame nearest the shot's middle).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

SHOT_SCALES = ("extreme close-up", "close-up", "medium", "full", "long")
FACE_BOUNDS: list[tuple[float, str]] = [
    (0.55, "extreme close-up"),
    (0.28, "close-up"),
    (0.13, "medium"),
    (0.06, "full"),
    (0.0, "long"),
]
FACE_DECIDES = 0.13  # a face at least this tall decides alone (medium or closer)
EDGE = 0.02  # a box within 2 % of the top or bottom edge is cut by the frame
MEDIUM_PERSON = 0.6
FULL_PERSON = 0.45


@dataclass(frozen=True)
class Framing:
    scale: str | None
    basis: str  # face | person | none
    share: float | None  # the face's or the person's height / frame height


def scale_from_face(height_share: float) -> str:
    return next(name for bound, name in FACE_BOUNDS if height_share >= bound)


def scale_from_person(box: tuple[float, float, float, float]) -> str:
    _, y1, _, y2 = box
    height = y2 - y1
    if (y1 <= EDGE or y2 >= 1 - EDGE) and height >= MEDIUM_PERSON:
        return "medium"
    return "full" if height >= FULL_PERSON else "long"


def frame_scale(face_shares: Sequence[float], person_boxes: Sequence[tuple[float, float, float, float]]) -> Framing:
    """The shot scale of one frame (rule in the module doc)."""
    face = max(face_shares, default=None)
    if face is not None and (face >= FACE_DECIDES or not person_boxes):
        return Framing(scale_from_face(face), "face", round(face, 4))
    if person_boxes:
        tallest = max(person_boxes, key=lambda b: (b[3] - b[1], -b[0]))
        return Framing(scale_from_person(tallest), "person", round(tallest[3] - tallest[1], 4))
    return Framing(None, "none", None)


def shot_scale(framings: Sequence[Framing]) -> str | None:
    """The majority scale of a shot's frames, in time order; ties go to the frame nearest the
    middle; ``None`` when no frame has one."""
    known = [(i, f.scale) for i, f in enumerate(framings) if f.scale]
    if not known:
        return None
    counts = Counter(scale for _, scale in known)
    top = max(counts.values())
    middle = (len(framings) - 1) / 2
    return min((abs(i - middle), i, s) for i, s in known if counts[s] == top)[2]
