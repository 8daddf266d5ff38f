"""Claims: generated text cut into atomic statements, each given the type of fact it states.

**Splitting** (the fallback when no LLM splits): sentences by pysbd (rule-based sentence
boundary detection: "Dr. Smith", "2.5 s" stay whole), then clauses at ``;``, at
``, and`` / ``, but`` / ``, while`` / ``, whereas`` and before ``, with`` when both sides have at least
:data:`MIN_CLAUSE_WORDS` words. A claim keeps its character span in the source text, so a
report can highlight it.

**Typing** — a claim that interprets (conveys, suggests, evokes, symbolises, creates a sense
of, the mood or atmosphere) is an ``interpretation`` — a judgement, not checked against
measurements and never counted as a hallucination — unless it also asserts content: "The video
shows a shop, which suggests a local audience" asserts a shop (``content.py``: a content verb
with a content word in what it asserts), and is typed by its content part, the text before the
judgement. A claim about the genre(s) is ``metadata`` (the genres are the exam's answer,
scored against the labels by the analysis, not by the audit). Otherwise the first type whose
cue occurs in the claim, in this order (a claim about the words on screen is about text even
when it names a colour):

=================  ==========================================================================
type               cues (whole words, case-insensitive)
=================  ==========================================================================
onscreen_text      a quoted word, "on-screen text", "caption", "title card", "reads", "the word"
speech             says, said, speaks, talks, narrator, narration, voice-over, dialogue, mentions,
                   spoken, speaker, tells
sound              every sound the checker names (lexicon.SOUND_CUES): music, soundtrack, score,
                   melody, song, silence, silent, quiet, laughter, applause, "a tone", beep, hum,
                   noise, voice, speech; sound(s), audio, "no audio"
shot_scale         extreme close-up, close-up, medium shot, full shot, long shot, wide shot
camera_movement    every movement the checker names in words of their own (lexicon.MOVEMENT_CUES):
                   pans left/right, tilts up/down, zooms in/out, a static / still / fixed /
                   locked-off camera or shot, "the camera remains still"; and panning, handheld,
                   tracking shot, "the camera moves / pans …"
editing            cut(s), edit(ing), pace, shot(s) (a count, or "the shots are <time spans>"),
                   montage, continuous take
lighting           light(ing), lit, dark, dim, shadow(s/y), bright, low-key, high-key
colour             a colour name (red … white), colour/color, palette, tones, hue
object             a COCO object name (person excluded), or a common synonym (mug → cup); a claim
                   that opens "looks like" / "appears to be" (a classifier's label)
person             person, people, man, woman, child, face(s), figure, crowd, nobody, no one
metadata           year (a four-digit number), budget, title, directed, released
temporal           first … then, before, after, at the start/end, finally, later
content            the video shows, depicts, features, contains, is about … something, or a
                   frame looks like something (``content.py``), none of the cues above
interpretation     anything else: judgements ("conveys suspense", "an engaging video")
=================  ==========================================================================

Interpretations are not checked against the evidence: they are ``unverifiable`` by design,
never counted as hallucinations. Content claims are checked against every word of the
video's evidence; so is the content of a claim of another type that asserts some
(``checks.with_content``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pipelines.audit.content import asserts_content, content_end
from pipelines.audit.lexicon import CLAIM_TYPES, CUES, GENRE, INTERPRETS, LOOKS_LIKE, object_names

MIN_CLAUSE_WORDS = 3


@dataclass(frozen=True)
class Claim:
    text: str
    start: int  # character span in the source text
    end: int
    type: str


@lru_cache(maxsize=1)
def _segmenter():  # noqa: ANN202
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def claim_type(text: str) -> str:
    """The type of fact ``text`` states (first matching cue of the table in the module doc)."""
    content = asserts_content(text)
    if re.search(INTERPRETS, text, flags=re.IGNORECASE):
        if not content:
            return "interpretation"
        text = text[: content_end(text)]  # typed by what it asserts, not by the judgement after it
    if re.search(GENRE, text, flags=re.IGNORECASE):
        return "metadata"
    for kind in CLAIM_TYPES[:8]:
        if re.search(CUES[kind], text, flags=re.IGNORECASE):
            return kind
    if object_names(text) or re.search(LOOKS_LIKE, text, flags=re.IGNORECASE):
        return "object"
    for kind in ("person", "metadata", "temporal"):
        if re.search(CUES[kind], text, flags=re.IGNORECASE):
            return kind
    return "content" if content else "interpretation"


def text_source(source: str) -> str:
    """The audited text a claim's ``source`` belongs to, for rates per text: a film student's
    analysis keeps its student (``analyse_film.analysis[text]``); the hypotheses and the frame
    descriptions are one text each (``hypothesize.hypotheses``, ``describe_frames.descriptions``)."""
    return source if source.startswith("analyse_film.") else source.split("[", 1)[0]


# composed from the measurements (the offline describer): true by construction, reported apart
COMPOSED_TEXTS = ("describe_frames.descriptions",)


def _clauses(sentence: str, offset: int) -> list[tuple[str, int, int]]:
    parts, start = [], 0
    for match in re.finditer(r";\s*|,\s+(?:and|but|while|whereas)\s+|,\s+(?=with\s)", sentence):
        left, right = sentence[start : match.start()], sentence[match.end() :]
        if len(left.split()) >= MIN_CLAUSE_WORDS and len(right.split()) >= MIN_CLAUSE_WORDS:
            parts.append((left, offset + start, offset + match.start()))
            start = match.end()
    parts.append((sentence[start:], offset + start, offset + len(sentence)))
    return parts


def spans_of_sentences(text: str) -> list[tuple[int, int]]:
    """The character spans of ``text``'s sentences (pysbd), surrounding spaces left out."""
    spans = []
    for span in _segmenter().segment(text):
        lead = len(span.sent) - len(span.sent.lstrip())
        body = span.sent.strip()
        if body:
            spans.append((span.start + lead, span.start + lead + len(body)))
    return spans


def split_claims(text: str) -> list[Claim]:
    """The claims of ``text`` by sentences and clauses (module doc), typed, with their spans."""
    claims = []
    for span in _segmenter().segment(text):
        for clause, start, end in _clauses(span.sent, span.start):
            stripped = clause.strip()
            if len(stripped.split()) < 2:
                continue
            lead = len(clause) - len(clause.lstrip())
            begin = start + lead
            claims.append(Claim(stripped, begin, begin + len(stripped), claim_type(stripped)))
    return claims
