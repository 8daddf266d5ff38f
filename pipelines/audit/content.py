"""Content claims: what a text says the video shows, looked for in everything the video holds.

A small LLM that explains a prediction readily copies what a retrieved neighbour shows into the
explanation of *this* video ("The video shows opening and closing of a shop", said of an
astronaut clip). Such a sentence names no light level, colour or COCO object, so no measurement
rule can contradict it; left as an interpretation it would be unverifiable "by definition", and
the audit would miss the hallucination that matters most. This module checks it.

**A content claim** asserts that the video (the clip, the film, the frame, it, we …) *shows*,
depicts, features, contains, includes, displays, presents, portrays, captures, highlights,
showcases, demonstrates, *is about*, focuses on, centres on, revolves around, *looks like*
something, or that something *is shown / seen / depicted / featured / visible* in it
(:data:`CONTENT_VERB`, :data:`PASSIVE`). What it asserts is the phrase after the verb (before
it, for the passive), cut where a judgement or a reason begins ("…, which suggests …", "…, so
hypothesis 1 applies", "… to create suspense"): :func:`content_claim`.

**Judgements stay unchecked.** "The video conveys suspense" asserts no content: no content verb.
"The mood shows tension" has one, but what it asserts is a judgement: words of
:data:`JUDGEMENT` (suspense, tension, beautiful, engaging …) are not content. A claim is a
content claim only when at least one *content word* remains once stopwords, judgement words,
the film-form vocabulary other rules check or that names no content (:data:`FORM`: shot,
camera, lighting, colour names, music …), words about the prediction itself (:data:`META`:
hypothesis, applies, favours …) and the task's own label words are left out.

**Things.** The asserted phrase is cut into the things it names at "and", "or", commas, "with",
"as well as", "then" … ("opening and closing of a shop" names "opening" and "closing of a
shop"); a thing with no content word is skipped ("motion and lighting").

**The evidence** (:func:`vocabulary`): every word of the video's own records — title,
description, the metadata fields shown to the model (``summarize``'s metadata section), the
transcript, the on-screen text (each merged text and every raw reading of every frame), the
COCO objects detected (with their common names: a detected ``couch`` is a "sofa"), the ImageNet
labels of the frames (with their WordNet synonyms and a hypernym for the large families: any of
ImageNet's 118 dog breeds is a "dog", an espresso is "coffee"), and the sound events (YAMNet
class names). The offline frame descriptions are composed of exactly these (labels, objects,
on-screen text, measured light and colour), so they add no word of their own; a VLM's frame
descriptions are generated text, audited, never evidence. A frame description's claims are
checked against that frame's objects, labels and on-screen text (``checks.at_time``), and
against the video's title, description, speech and sounds.

**Matching is lexical** (:func:`key`): case folded, plural and verb endings cut ("sketches" is
"sketch", "making" is "make", "stopped" is "stop"), number words as digits ("five" is "5"), a
few irregular plurals, and a short list of true synonyms (:data:`SYNONYMS`: shop/store,
film/movie …). A sentence-embedding match (the bundled MiniLM) was measured and not used: it
gives "countdown" against the transcript "Five, four, three, two, one. Lift off!" 0.31 but
"kitchen" against "espresso" 0.30, and "rising" against "climbs" 0.50 — no threshold tells a
paraphrase from a hallucination, and a verdict a reader cannot retrace is worth little. A
lexical verdict names the words found and where, and the words found nowhere.

**The verdict** (:func:`check_content`):

* ``supported`` — every thing named has at least half of its content words in the evidence
  ("a rocket rising into the sky": rocket and sky are, "rising" is not);
* ``unsupported`` — some thing named has *none* of its content words anywhere in the video's
  evidence: content the video does not hold, counted as a hallucination (with the contradicted
  claims) by the audit's rates. The reason names the words found nowhere and what was searched;
* ``unverifiable`` — partly supported: every thing has some word in the evidence, but one has
  fewer than half (the reason says which words were found and which were not); or the video
  has no evidence to search (then the rule does not apply, and a claim of another type keeps
  its own rule's verdict).

Absence from the evidence is weaker than a contradiction — the small models that produce the
evidence miss things (a shop sign too small to read, a kitchen no ImageNet class names) — so it
has its own verdict, and the reason says what was searched.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from pipelines.audit.lexicon import OBJECT_SYNONYMS
from pipelines.audit.verdicts import Evidence, Verdict

CONTENT_VERB = (r"\b(shows?|showing|showcas(?:es?|ing)|depicts?|depicting|features?|featuring|contains?|containing|"
                r"includes?|including|displays?|displaying|presents?|presenting|portrays?|portraying|captures?|"
                r"capturing|highlights?|highlighting|demonstrates?|demonstrating|(?:is|are|was|were|seems?) (?:all )?"
                r"about(?! to\b)|focus(?:es)? on|focusing on|cent(?:re|er)s? on|revolves? around|looks? like|"
                r"appears? to (?:be|show)|we (?:see|hear|watch)|(?:one )?can see)\b")
PASSIVE = r"\b(?:is|are|was|were|can be|being)\s+(?:shown|seen|depicted|featured|displayed|pictured|visible|present)\b"
# where the content stops and a judgement, a reason or the prediction's logic begins
JUDGEMENT_CUT = (r";|,?\s*\b(?:which|so that|so|because|since|as if|as though|thus|thereby|hence|therefore|"
                 r"giving|creating|suggesting|conveying|evoking|making it|in a way|to (?:create|convey|evoke|suggest|"
                 r"give|show how|emphasi[sz]e|highlight|build|add))\b|"
                 r"\b(?:conveys?|suggests?|evokes?|symboli[sz]\w*|expresses?|represents?)\b")
# "with a horse sketch in the background": what is placed in the picture is asserted as shown
PLACED = r"\bwith\s+([^,;.]{2,60}?)\s+(?:in|at) the (?:background|foreground|centre|center|corner|frame|shot|scene)\b"
# a negated assertion ("shows no people", "does not show a shop") is about absence: the other rules' business
NEGATION = r"\b(?:no|not|without|none|nobody|nothing|never|neither|nor|lacks?|lacking|absent)\b|n't\b"
THING_CUT = (r"\s*(?:,|/|[()]|\band\b|\bor\b|\bas well as\b|\balong with\b|\btogether with\b|\bplus\b|\bwith\b|"
             r"\bwhile\b|\bthen\b|\bbefore\b|\bafter\b|\bfollowed by\b)\s*")

STOP = frozenset("""
a an the this that these those it its it's is are was were be been being am has have had having do does did doing
will would shall should can could may might must of in on at to for from by with without and or but not no nor as
than then so such very more most less least of into onto out up down over under again further once here there when
where why how all any both each few other some own same too just only also even still yet ever never always often
usually sometimes about above below between through during before after while until against among around across
along behind beyond near off per via upon within i me my we us our you your he him his she her they them their
what which who whom whose whatever one ones two-thirds something someone somebody anything anyone everything
everyone nothing nobody thing things stuff lot lots kind kinds sort sorts type types way ways part parts piece
variety series set range number couple bit aspect aspects element elements detail details feature features
content contents subject subjects object objects item items example instance form forms process processes
setting settings environment situation view views use uses used using like likely possibly probably perhaps
maybe clearly simply really quite rather mostly mainly especially particularly certain various several different
many much lots own whole entire full new old-style main key overall general specific particular typical
show shows showing shown depict depicts feature featuring contain contains include includes including display
displays present presents portray portrays capture captures highlight highlights demonstrate demonstrates focus
focuses centre centres center centers revolve revolves look looks like appear appears seem seems see sees seen
hear hears heard watch watches can visible pictured featured depicted displayed
""".split())
# film form and what other rules check: light, colour, shot scale, camera, editing, sound, on-screen text, people
FORM = frozenset("""
video videos clip clips film films movie movies footage recording frame frames image images picture pictures
photo photos still stills scene scenes shot shots sequence sequences take takes moment moments segment segments
visual visuals fact facts camera cameras lens angle angles view perspective composition framing frame-by-frame
close-up close-ups closeup closeups medium wide long full extreme establishing pan pans panning tilt tilts
tilting zoom zooms zooming static handheld tracking movement movements motion moving move moves cut cuts cutting
character characters protagonist protagonists
edit edits editing edited pace pacing rhythm montage transition transitions fade dissolve
light lights lighting lit dark darkness dim bright brightness shadow shadows high-key low-key mid-key key
colour colours color colors coloured colored palette tone tones toned hue hues saturation saturated contrast
warm cool cold neutral monochrome red orange yellow green cyan blue purple pink brown black white grey gray
sound sounds audio soundtrack music musical score song songs melody noise noises silence silent quiet tone beep
voice voices speech spoken narration narrator voice-over voiceover dialogue sound-effects loud soft
text texts caption captions subtitle subtitles title titles word words on-screen screen card
background foreground centre center left right top bottom side corner middle edge
time times second seconds minute minutes start beginning end ending duration length
""".split())
JUDGEMENT = frozenset("""
suspense suspenseful tension tense excitement exciting excited thrill thrilling emotion emotions emotional mood
moods atmosphere atmospheric feeling feelings sense senses energy energetic beauty beautiful pretty calm calming
calmness joy joyful joyous happy happiness sad sadness sorrow fear fearful anxiety anxious nostalgia nostalgic drama
dramatic humour humor humorous funny fun interesting interest engaging engagement compelling captivating
intriguing appealing appeal relatable authentic authenticity simple simplicity creative creativity quality
importance important significance significant meaning meaningful passion passionate love lovely warmth intimacy
intimate isolation lonely loneliness hope hopeful wonder wonderful awe awesome curiosity curious uplifting
inspiring inspiration inspirational dynamic vibrant lively peaceful peace serene serenity tranquil tranquility
chaotic chaos mysterious mystery eerie ominous playful charming cozy cosy elegant elegance nice good great
amazing impressive stunning striking powerful strong weak effective memorable unique special attractive
entertaining entertainment informative educational professional amateur casual relaxing relaxed cheerful gloomy
melancholy melancholic somber sombre grim dread menace menacing sinister tender gentle harsh intense intensity
urgency urgent anticipation curiosity delight delightful pleasant unpleasant satisfying boring dull slow fast quick
viewer viewers audience audiences spectator spectators
""".split())
# words about the prediction, the hypotheses and the task, never about the video's content
META = frozenset("""
hypothesis hypotheses applies apply applied favour favours favor favors favoured label labels class classes
prediction predictions predict predicted evidence neighbour neighbours neighbor neighbors category categories
local-hit global-big-hit hit hits popular popularity viral views trending
""".split())

NUMBER_WORDS = {w: str(n) for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty".split())}
IRREGULAR = {"men": "man", "women": "woman", "children": "child", "people": "person", "mice": "mouse",
             "feet": "foot", "teeth": "tooth", "geese": "goose", "leaves": "leaf", "knives": "knife",
             "wolves": "wolf", "shelves": "shelf", "loaves": "loaf", "halves": "half", "lives": "life",
             "wives": "wife", "fishes": "fish", "sheep": "sheep", "oxen": "ox", "dice": "die"}
# true synonyms (each word stands for the others, both ways); COCO's common names are in lexicon.OBJECT_SYNONYMS
SYNONYMS = (("shop", "store"), ("film", "movie"), ("photo", "photograph"), ("kid", "child"),
            ("car", "automobile"), ("sofa", "couch"), ("tv", "television"), ("phone", "smartphone", "cellphone"),
            ("bike", "bicycle"), ("motorbike", "motorcycle"), ("plane", "airplane", "aeroplane", "aircraft"),
            ("liftoff", "lift-off", "takeoff"), ("spaceship", "spacecraft"), ("cosmos", "universe"),
            ("dinner", "supper"), ("road", "street"), ("woods", "forest"), ("sea", "ocean"), ("coin", "penny"),
            ("grandfather", "grandpa"), ("grandmother", "grandma"), ("mom", "mother", "mum"), ("dad", "father"))
# evidence word -> the more general words a claim may use for it (an espresso is coffee; a tabby is a cat)
HYPERNYMS = {"espresso": ("coffee", "drink"), "cappuccino": ("coffee", "drink"), "latte": ("coffee", "drink"),
             "coffee": ("drink",), "tea": ("drink",), "car": ("vehicle",), "truck": ("vehicle",),
             "bus": ("vehicle",), "motorcycle": ("vehicle",), "bicycle": ("vehicle",), "train": ("vehicle",),
             "airplane": ("vehicle",), "boat": ("vehicle",), "rocket": ("spacecraft",), "astronaut": ("person",),
             "galaxy": ("space", "star"), "kitten": ("cat",), "puppy": ("dog",), "horse": ("animal",),
             "cat": ("animal", "pet"), "dog": ("animal", "pet")}
# ImageNet-1k class ids (inclusive ranges) -> the family's common name
IMAGENET_FAMILIES = (((0, 6), "fish"), ((389, 397), "fish"), ((7, 24), "bird"), ((80, 100), "bird"),
                     ((127, 146), "bird"), ((33, 37), "turtle"), ((38, 51), "lizard"), ((52, 68), "snake"),
                     ((72, 77), "spider"), ((151, 268), "dog"), ((281, 285), "cat"), ((286, 293), "cat"),
                     ((294, 297), "bear"), ((300, 319), "insect"), ((365, 382), "monkey"))


def key(word: str) -> str:
    """The form two words share when they are the same word: case folded, a number word as its
    digits, an irregular plural as its singular, plural and verb endings cut, a final ``e`` cut
    ("making" and "make" are ``mak``, "horses" and "horse" ``hors``, "stopped" and "stop" ``stop``).
    Both sides go through it, so what matters is that forms of one word meet, not that the key
    is a word."""
    w = word.casefold().strip("'’-")
    w = NUMBER_WORDS.get(w, w)
    if w.isdigit():
        return w
    w = IRREGULAR.get(w, w)
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 4 and w.endswith("es") and w[:-2].endswith(("s", "x", "z", "ch", "sh")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if len(w) > len(suffix) + 2 and w.endswith(suffix):
            w = w[: -len(suffix)]
            if len(w) > 2 and w[-1] == w[-2] and w[-1] not in "lsz":  # running -> run, but calling -> call
                w = w[:-1]
            break
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


def _tokens(text: str) -> list[str]:
    """Words, hyphenated ones kept whole, a possessive's ``'s`` dropped."""
    return [re.sub(r"['’]s$", "", t) for t in re.findall(r"[a-z0-9]+(?:[-'’][a-z0-9]+)*", str(text).casefold())]


def _split_compound(token: str) -> list[str]:
    """A token and, for a hyphenated one, its parts ("lift-off": lift-off, lift, off)."""
    parts = [p for p in re.split(r"[-'’]", token) if p]
    return [token, *parts] if len(parts) > 1 else [token]


@functools.lru_cache(maxsize=1)
def _synonym_keys() -> dict[str, frozenset[str]]:
    groups = [*SYNONYMS, *((common, coco) for common, coco in OBJECT_SYNONYMS.items()
                           if " " not in common and " " not in coco)]
    out: dict[str, set[str]] = {}
    for group in groups:
        keys = {key(w) for w in group}
        for k in keys:
            out.setdefault(k, set()).update(keys)
    return {k: frozenset(v) for k, v in out.items()}


@functools.lru_cache(maxsize=1)
def _imagenet_words() -> dict[str, frozenset[str]]:
    """ImageNet clean name -> the words of its WordNet synonyms and its family's name."""
    try:
        from pipelines.models.imagenet import imagenet_names, imagenet_synonyms
    except ImportError:  # pragma: no cover - the package ships with m2t
        return {}
    try:
        names = imagenet_names()
    except Exception:  # noqa: BLE001 - no class names installed: labels are still their own words
        return {}
    out: dict[str, set[str]] = {}
    for index, name in enumerate(names):
        words = set(_tokens(name))
        for synonym in imagenet_synonyms(index):  # Latin binomials ("Tinca tinca") included: they meet no claim
            words.update(_tokens(synonym))
        words.update(family for (low, high), family in IMAGENET_FAMILIES if low <= index <= high)
        out.setdefault(name.casefold(), set()).update(words)
    return {k: frozenset(v) for k, v in out.items()}


@dataclass(frozen=True)
class Thing:
    """One thing a content claim names: its words as written, and its content words."""

    text: str
    words: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def _skip_keys() -> frozenset[str]:
    return frozenset(key(w) for w in STOP | FORM | JUDGEMENT | META)


def content_words(text: str, ignore: frozenset[str] = frozenset()) -> list[str]:
    """The words of ``text`` that name content (module doc), in order, each once."""
    out: list[str] = []
    skip = STOP | FORM | JUDGEMENT | META | ignore
    skip_keys = _skip_keys() | {key(w) for w in ignore}
    for token in _tokens(text):
        if token in skip or len(token) < 2 or key(token) in skip_keys:
            continue
        if "-" in token and all(p in skip for p in token.split("-")):
            continue
        if token not in out:
            out.append(token)
    return out


def content_claim(text: str) -> tuple[str, int, int] | None:
    """What ``text`` asserts the video shows (module doc): the asserted phrase and its span in
    ``text`` (after a content verb, before a passive one, or placed "with X in the background");
    ``None`` when ``text`` has no content verb, or negates it ("does not show a shop",
    "shows no people": absence is the business of the other rules)."""
    active = re.search(CONTENT_VERB, text, flags=re.IGNORECASE)
    passive = re.search(PASSIVE, text, flags=re.IGNORECASE)
    if passive is not None and (active is None or passive.start() < active.start()):
        phrase_start = max((m.end() for m in re.finditer(r"[,;:]", text[: passive.start()])), default=0)
        phrase_end, verb_clause = passive.start(), ""
    elif active is not None:
        phrase_start = active.end()
        cut = re.search(JUDGEMENT_CUT, text[phrase_start:], flags=re.IGNORECASE)
        phrase_end = phrase_start + cut.start() if cut else len(text)
        clause_start = max((m.end() for m in re.finditer(r"[,;:]", text[: active.start()])), default=0)
        verb_clause = text[clause_start : active.start()]
    elif (placed := re.search(PLACED, text, flags=re.IGNORECASE)) is not None:
        phrase_start, phrase_end, verb_clause = placed.start(1), placed.end(1), ""
    else:
        return None
    phrase = text[phrase_start:phrase_end]
    if re.search(NEGATION, verb_clause, flags=re.IGNORECASE) or \
            re.match(r"\W*(?:" + NEGATION + ")", phrase, flags=re.IGNORECASE):
        return None
    return phrase, phrase_start, phrase_end


def things(text: str, ignore: frozenset[str] = frozenset()) -> list[Thing]:
    """The things the content claim ``text`` names that have content words (empty: none, or
    ``text`` is no content claim)."""
    found = content_claim(text)
    if found is None:
        return []
    out = []
    for part in re.split(THING_CUT, found[0], flags=re.IGNORECASE):
        if re.search(NEGATION, part, flags=re.IGNORECASE):  # "with no audio track": an absence, not a thing
            continue
        words = content_words(part, ignore)
        if words:
            out.append(Thing(part.strip(" .,:;\"'"), tuple(words)))
    return out


def asserts_content(text: str, ignore: frozenset[str] = frozenset()) -> bool:
    """Whether ``text`` is a content claim: a content verb, and a content word in what it asserts."""
    return bool(things(text, ignore))


def content_end(text: str) -> int:
    """Where the content ``text`` asserts ends (a judgement or a reason may follow); its
    length when it asserts none."""
    found = content_claim(text)
    return found[2] if found is not None else len(text)


@dataclass(frozen=True)
class Source:
    """Where a word of the evidence was found: stage, field, the text that holds it, time."""

    stage: str
    field: str
    value: str
    time_s: float | None = None
    frame_index: int | None = None


def _add(vocab: dict[str, Source], text: str, source: Source, extra: tuple[str, ...] = ()) -> None:
    for token in [*_tokens(text), *extra]:
        for word in _split_compound(token):
            k = key(word)
            vocab.setdefault(k, source)
            for other in _synonym_keys().get(k, ()):
                vocab.setdefault(other, source)
            for general in HYPERNYMS.get(word, HYPERNYMS.get(k, ())):
                vocab.setdefault(key(general), source)


def vocabulary(ev: Any) -> tuple[dict[str, Source], list[str]]:
    """Every word of the video's evidence (module doc) by :func:`key`, with the first place it
    was found; and the names of the evidence searched (for the reason)."""
    vocab: dict[str, Source] = {}
    searched: list[str] = []
    for name, value in (("title", ev.title), ("description", ev.description), ("metadata", ev.shown_metadata)):
        if value and value.strip():
            _add(vocab, value, Source("item", name, value))
            searched.append(name)
    if ev.transcript is not None and not ev.transcript.no_audio and ev.transcript.segments:
        for seg in ev.transcript.segments:
            _add(vocab, seg.text, Source("transcribe_audio", "segments", seg.text.strip(), seg.start_s))
        searched.append("speech")
    if ev.ocr is not None and (ev.ocr.texts or any(f.lines for f in ev.ocr.frames)):
        for t in ev.ocr.texts:
            _add(vocab, t.text, Source("read_onscreen_text", "texts", t.text, t.first_s,
                                       t.frame_indices[0] if t.frame_indices else None))
        for frame in ev.ocr.frames:
            for line in frame.lines:
                _add(vocab, line.text, Source("read_onscreen_text", "frames.lines", line.text, frame.timestamp_s,
                                              frame.frame_index))
        searched.append("on-screen text")
    if ev.objects is not None:
        common = {}
        for word, coco in OBJECT_SYNONYMS.items():
            common.setdefault(coco, []).append(word)
        for frame in ev.objects.frames:
            for o in frame.objects:
                _add(vocab, o.label, Source("detect_objects", "frames.objects", o.label, frame.timestamp_s,
                                            frame.frame_index), tuple(common.get(o.label, ())))
        searched.append("objects")
    descriptions = getattr(ev.descriptions, "descriptions", None) or []
    if any(d.labels for d in descriptions):
        names = _imagenet_words()
        for d in descriptions:
            for label in d.labels:
                _add(vocab, label.name, Source("describe_frames", "labels", label.name, d.timestamp_s, d.frame_index),
                     tuple(names.get(label.name.casefold(), ())))
        searched.append("ImageNet labels")
    if ev.sound is not None and not getattr(ev.sound, "no_audio", False) and ev.sound.segments:
        for seg in ev.sound.segments:
            for label in [seg.label, *(name for name, _ in seg.top)]:
                _add(vocab, label, Source("describe_audio", "segments", label, seg.start_s))
        searched.append("sound events")
    return vocab, searched


def _found(words: tuple[str, ...], vocab: dict[str, Source]) -> list[str]:
    return [w for w in words if any(key(p) in vocab for p in _split_compound(w))]


def _source_of(word: str, vocab: dict[str, Source]) -> Source:
    return next(vocab[key(p)] for p in _split_compound(word) if key(p) in vocab)


def check_content(claim: str, ev: Any) -> Any:
    """The content verdict of ``claim`` against the video's evidence ``ev``
    (``checks.VideoEvidence``): rules in the module doc. ``applies`` is false when ``claim``
    asserts no content."""
    named = things(claim, ev.task_words)
    if not named:
        return Verdict("unverifiable", "asserts no content (no content verb, or only judgements)", applies=False)
    vocab, searched = vocabulary(ev)
    if not vocab:
        return Verdict("unverifiable", "the video has no evidence of its content to search (no title, speech, "
                                       "on-screen text, objects, labels or sounds)", applies=False)
    where = ", ".join(searched)
    missing, partial, cited = [], [], []
    for thing in named:
        found = _found(thing.words, vocab)
        cited += [w for w in found if w not in cited]
        if not found:
            missing.append(thing)
        elif 2 * len(found) < len(thing.words):
            partial.append((thing, found))
    evidence = []
    for word in cited[:4]:
        s = _source_of(word, vocab)
        evidence.append(Evidence(s.stage, s.field, s.value[:200], s.time_s, s.frame_index))
    if missing:
        absent = sorted({w for t in missing for w in t.words})
        also = f"; found: {', '.join(cited)}" if cited else ""
        return Verdict("unsupported", f"content found nowhere in the video's evidence: {', '.join(absent)} "
                                      f"(searched {where}){also}",
                       evidence or [Evidence("audit_claims", "searched", where)])
    if partial:
        detail = "; ".join(f"{t.text!r}: found {', '.join(f)}, not {', '.join(w for w in t.words if w not in f)}"
                           for t, f in partial)
        return Verdict("unverifiable", f"partly supported: {detail} (searched {where})", evidence)
    found_in = sorted({f"{s.stage}.{s.field}" for s in (_source_of(w, vocab) for w in cited)})
    return Verdict("supported", f"in the video's evidence: {', '.join(cited)} ({', '.join(found_in)})", evidence)
