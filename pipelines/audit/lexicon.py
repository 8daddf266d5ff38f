"""The audit's vocabulary, in one place: the cues that give a claim its type
(:func:`pipelines.audit.claims.claim_type`) and the cues the rule checkers look for in a claim
of that type (``checks.py``). Where a checker tells facts apart (sounds, shot scales, camera
movements) each fact's words are spelled once, in its ``*_CUES`` list, and the typing cue of
its claim type is built from that list: a claim naming any fact a checker knows is typed so
that the checker sees it ("A melody plays throughout." is a sound claim, "A locked-off shot of
the sea." a camera-movement claim). A word that types only in context is marked so ("pan" alone
is a cooking pan; "the camera pans" is a movement) and the checker still reads it inside a claim
already typed. The content rule's own word lists (content verbs, stop, form and judgement
words, synonyms) live with it in ``content.py``, which uses them both to type and to check.
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

# -- facts the checkers tell apart, each spelled once (checks.py reads these lists) ------------
# (fact, pattern); the shot scale a claim names, whole words
SCALE_CUES = [("extreme close-up", r"extreme close-?ups?"), ("close-up", r"(?<!extreme )close-?ups?"),
              ("medium", r"medium shots?"), ("full", r"full shots?"), ("long", r"(long|wide|establishing) shots?")]

# (movement, pattern, types): ``types`` False for a bare word that is a movement only in a claim
# already about the camera ("pan", "tilt", "zoom"); the rest type a claim on their own
MOVEMENT_CUES = [("static", r"\b((static|still|fixed|locked-off) (camera|shot)|camera( movement)? (is|remains|stays) "
                            r"(still|static|fixed)|camera does not move)\b", True),
                 ("pan left", r"\bpans? (to the )?left\b", True), ("pan right", r"\bpans? (to the )?right\b", True),
                 ("pan", r"\bpan(s|ning)?\b", False), ("tilt up", r"\btilts? up\b", True),
                 ("tilt down", r"\btilts? down\b", True), ("tilt", r"\btilt(s|ing)?\b", False),
                 ("zoom in", r"\bzooms? in\b", True), ("zoom out", r"\bzooms? out\b", True),
                 ("zoom", r"\bzoom(s|ing)?\b", False)]

# (sound category of describe_audio, pattern); "tone" only with a word before it that makes it a
# sound ("warm tones" are colour)
SOUND_CUES = [("music", r"\b(music\w*|soundtrack|score|melod\w*|songs?)\b"), ("silence", r"\b(silen\w*|quiet)\b"),
              ("laughter", r"\blaugh\w*\b"), ("applause", r"\b(applause|clapping)\b"),
              ("tone", r"\b((a|dial|steady|low|high|single|pure|constant) tones?|tone bed|beeps?|hum(s|ming)?)\b"),
              ("noise", r"\bnoise\b"), ("speech", r"\b(voices?|speech|talking)\b")]

NO_AUDIO = r"\b(no (audio|sound)( track)?|without (audio|sound)|silent (film|video|clip)|mute[sd]?)\b"


def _any(patterns: list[str]) -> str:
    return "|".join(f"(?:{p})" for p in patterns)


# -- typing: the first type whose cue a claim holds (claims.py) -----------------------------
INTERPRETS = r"\b(conveys?|suggests?|evokes?|symboli[sz]\w*|creates? an? (sense|feeling)|mood|atmosphere|" \
             r"feels?|expresses?|represents?|metaphor\w*)\b"
CUES: dict[str, str] = {
    "onscreen_text": r"[\"“][^\"”]{1,60}[\"”]|on-?screen text|caption|title card|\breads\b|the words?\b|subtitle",
    "speech": r"\b(says?|said|speaks?|speaking|talks?|talking|narrat\w*|voice-?over|dialogue|mentions?|spoken|"
              r"speakers?|tells?)\b",
    # every sound a checker names, or the audio itself
    "sound": _any([cue for _, cue in SOUND_CUES] + [NO_AUDIO, r"\b(sounds?|audio)\b"]),
    "shot_scale": _any([rf"\b{cue}\b" for _, cue in SCALE_CUES]),
    # every movement a checker names on its own, and the camera said to move in words it cannot measure
    "camera_movement": _any([cue for _, cue, types in MOVEMENT_CUES if types] + [
        r"\b(pans? (across|over|to|along|slowly|back)|pann(ing|ed)|tilting|zooming|handheld|tracking shot|"
        r"camera (moves|pans|tilts|zooms))\b"]),
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




UNQUOTED_STOP = frozenset("a an the on in at of to out loud aloud it this that screen word words from by with and or".split())


SPEECH_VERBS = r"\b(says?|said|speaks?|speaking|talks?|talking|about|narrat\w*|voice-?over|dialogue|mentions?|" \
               r"spoken|speakers?|tells?|someone|somebody|man|woman|voice|we|hear)\b"


METADATA_SUBJECT = r"\b(?:the |its |video'?s? )?(title|description|tags?|metadata)\b"




# "does not show silent sketches with no sound": the absence of sound is said of something the video is not
NEGATED_SHOWING = r"\b(?:(?:does|do|did|is|are|was|were) not|doesn't|don't|isn't|aren't|never)\s+(?:\w+\s+)?" \
                  r"(?:show|feature|contain|include|depict|have|has|look like|about)\b"


OPENING = r"\b(opens?|begins?|starts?) (with|on|in)\b|\bat the (start|beginning|outset)\b|" \
          r"\b(first|opening) (shot|frame|image|moments?)s?\b|\bin the opening\b"
CLOSING = r"\b(ends?|closes?|finish(es)?) (with|on|in)\b|\bat the (end|close)\b|" \
          r"\b(final|last|closing) (shot|frame|image|moments?)s?\b|\bfinally\b"


ORDER = r"\b(?:then|before|after|afterwards|followed by|later|until|gives way to|turns? into|becomes?)\b"


FILLER = {"first", "and", "the", "it", "a", "an", "then", "finally", "soon", "shortly", "just", "right", "is", "are"}
