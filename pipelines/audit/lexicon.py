"""The audit's vocabulary, in one place: the cues that give a claim its type
(:func:`pipelines.audit.claims.claim_type`) and the cues the rule checkers look for in a claim
of that type (``checks.py``), side by side per kind of fact, so the two are read and changed
together. The content rule's own word lists (content verbs, stop, form and judgement words,
synonyms) live with it in ``content.py``, which uses them both to type and to check.
"""

from __future__ import annotations

import re
from functools import lru_cache

CLAIM_TYPES = ("onscreen_text", "speech", "sound", "shot_scale", "camera_movement", "editing", "lighting", "colour",
               "object", "person", "metadata", "temporal", "content", "interpretation")
COLOURS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "brown", "black", "white", "grey",
           "gray")
# common words for COCO classes (the detector's labels are the keys' values)
OBJECT_SYNONYMS = {"mug": "cup", "coffee cup": "cup", "teacup": "cup", "kitten": "cat", "puppy": "dog", "automobile": "car",
                   "bike": "bicycle", "motorbike": "motorcycle", "plane": "airplane", "aeroplane": "airplane",
                   "sofa": "couch", "television": "tv", "phone": "cell phone", "mobile phone": "cell phone",
                   "smartphone": "cell phone", "table": "dining table", "glass": "wine glass", "plant": "potted plant",
                   "ball": "sports ball", "doughnut": "donut", "computer": "laptop", "necktie": "tie"}

INTERPRETS = r"\b(conveys?|suggests?|evokes?|symboli[sz]\w*|creates? an? (sense|feeling)|mood|atmosphere|" \
             r"feels?|expresses?|represents?|metaphor\w*)\b"
CUES: dict[str, str] = {
    "onscreen_text": r"[\"“][^\"”]{1,60}[\"”]|on-?screen text|caption|title card|\breads\b|the words?\b|subtitle",
    "speech": r"\b(says?|said|speaks?|speaking|talks?|talking|narrat\w*|voice-?over|dialogue|mentions?|spoken|"
              r"speakers?|tells?)\b",
    "sound": r"\b(music\w*|soundtrack|score|silence|silent|quiet|laugh\w*|applause|clapping|(a|dial|steady) tone|"
             r"tone bed|beeps?|noise|sounds?|audio)\b",
    "shot_scale": r"\b(extreme close-?ups?|close-?ups?|medium shots?|full shots?|long shots?|wide shots?|"
                  r"establishing shots?)\b",
    "camera_movement": r"\b(pans? (left|right|across|over|to|along|slowly|back)|pann(ing|ed)|tilts? (up|down)|"
                       r"tilting|zooms? (in|out)|zooming|static camera|still camera|handheld|tracking shot|"
                       r"camera (moves|is still|is static|does not move|stays|pans|tilts|zooms)|"
                       r"camera movement is (static|still))\b",
    "editing": r"\b(cuts?|edit\w*|pace|pacing|montage|continuous (take|shot)|single (take|shot)|\d+ shots|"
               r"(one|two|three|four|five|six|seven|eight|nine|ten) shots|shots (are|last|run|span))\b",
    "lighting": r"\b(light\w*|lit|dark\w*|dim\w*|shadow\w*|bright\w*|low-?key|high-?key|gloom\w*)\b",
    "colour": r"\b(" + "|".join(COLOURS) + r"|colou?rs?|palette|hues?|tones?)\b",
    "person": r"\b(person|people|man|men|woman|women|child|children|boy|girl|faces?|figures?|crowd|nobody|"
              r"no one|actor|actress|astronaut)\b",
    "metadata": r"\b(1[89]\d\d|20\d\d|budget|directed|director|released|produced)\b",
    "temporal": r"\b(first|then|before|after|finally|later|at the (start|end|beginning)|opens? (with|on)|"
                r"ends? (with|on))\b",
}


@lru_cache(maxsize=1)
def _object_pattern() -> re.Pattern[str]:
    from pipelines.models.objects import COCO_NAMES

    names = sorted({*(n for n in COCO_NAMES.values() if n != "person"), *OBJECT_SYNONYMS}, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(n) + "e?s?" for n in names) + r")\b", re.IGNORECASE)


def object_names(text: str) -> list[str]:
    """The COCO classes a text names (synonyms mapped, plurals folded), in order, each once."""
    from pipelines.models.objects import COCO_NAMES

    known = set(COCO_NAMES.values())
    out: list[str] = []
    for match in _object_pattern().finditer(text):
        word = match.group(1).casefold()
        for candidate in (word, word.removesuffix("s"), word.removesuffix("es")):
            name = OBJECT_SYNONYMS.get(candidate, candidate)
            if name in known:
                if name not in out:
                    out.append(name)
                break
    return out


GENRE = r"\bgenres?\b"
LOOKS_LIKE = r"^\W*(it |this |the (frame|image|scene|picture) )?(looks? like|appears? to (be|show)|resembles?)\b"


# -- what the checkers look for, by claim type (checks.py) --------------------
NUMBERS = {w: n for n, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())}


SCALE_CUES = [("extreme close-up", r"extreme close-?ups?"), ("close-up", r"(?<!extreme )close-?ups?"),
              ("medium", r"medium shots?"), ("full", r"full shots?"), ("long", r"(long|wide|establishing) shots?")]


MOVEMENT_CUES = [("static", r"(static|still|fixed|locked-off) (camera|shot)|camera( movement)? (is|remains|stays) "
                            r"(still|static|fixed)|camera does not move"),
                 ("pan left", r"pans? (to the )?left"), ("pan right", r"pans? (to the )?right"),
                 ("pan", r"\bpan(s|ning)?\b"), ("tilt up", r"tilts? up"), ("tilt down", r"tilts? down"),
                 ("tilt", r"\btilt(s|ing)?\b"), ("zoom in", r"zooms? in"), ("zoom out", r"zooms? out"),
                 ("zoom", r"\bzoom(s|ing)?\b")]


UNQUOTED_STOP = frozenset("a an the on in at of to out loud aloud it this that screen word words from by with and or".split())


SPEECH_VERBS = r"\b(says?|said|speaks?|speaking|talks?|talking|about|narrat\w*|voice-?over|dialogue|mentions?|" \
               r"spoken|speakers?|tells?|someone|somebody|man|woman|voice|we|hear)\b"


METADATA_SUBJECT = r"\b(?:the |its |video'?s? )?(title|description|tags?|metadata)\b"


SOUND_CUES = [("music", r"\b(music\w*|soundtrack|score|melod\w*|song)\b"), ("silence", r"\b(silen\w*|quiet)\b"),
              ("laughter", r"\blaugh\w*\b"), ("applause", r"\b(applause|clapping)\b"),
              ("tone", r"\b(tone|beeps?|hum)\b"), ("noise", r"\bnoise\b"), ("speech", r"\b(voices?|speech|talking)\b")]


NO_AUDIO = r"\b(no (audio|sound)( track)?|without (audio|sound)|silent (film|video|clip)|mute[sd]?)\b"


# "does not show silent sketches with no sound": the absence of sound is said of something the video is not
NEGATED_SHOWING = r"\b(?:(?:does|do|did|is|are|was|were) not|doesn't|don't|isn't|aren't|never)\s+(?:\w+\s+)?" \
                  r"(?:show|feature|contain|include|depict|have|has|look like|about)\b"


OPENING = r"\b(opens?|begins?|starts?) (with|on|in)\b|\bat the (start|beginning|outset)\b|" \
          r"\b(first|opening) (shot|frame|image|moments?)s?\b|\bin the opening\b"
CLOSING = r"\b(ends?|closes?|finish(es)?) (with|on|in)\b|\bat the (end|close)\b|" \
          r"\b(final|last|closing) (shot|frame|image|moments?)s?\b|\bfinally\b"


ORDER = r"\b(?:then|before|after|afterwards|followed by|later|until|gives way to|turns? into|becomes?)\b"


FILLER = {"first", "and", "the", "it", "a", "an", "then", "finally", "soon", "shortly", "just", "right", "is", "are"}
