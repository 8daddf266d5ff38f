"""Rule checkers: one claim against the same video's measured evidence.

Each checker returns a :class:`Verdict` — ``supported``, ``contradicted``, ``unsupported``
(content claims only: content found nowhere in the video's evidence) or ``unverifiable`` — with
the evidence it rests on (stage, field, value, and the time or frame where it was measured).
The rules, by claim type (``claims.py``):

* **lighting** — "dark / dim / low-key / shadowy" against the sampled frames' lighting key
  (``measure_visuals``): supported when at least half of the frames are low-key, contradicted
  when none is; "bright / high-key / well lit" likewise with high-key frames, "mid-key /
  evenly lit" with mid-key ones. Otherwise (some but not half) unverifiable.
* **colour** — each colour named is looked for in the frames' palettes and dominant colours:
  supported when every colour named appears in some frame, contradicted when one appears in
  none.
* **shot_scale** — each MovieShots scale named against the measured shots' scales:
  supported when some shot has it, contradicted when the shots have measured scales and none
  is that one; unverifiable when no shot's scale could be measured.
* **camera_movement** — static / pan (left, right) / tilt (up, down) / zoom (in, out) against
  the shots' measured movements: supported when some shot moves so, contradicted when every
  shot's movement was measured and none does.
* **editing** — a number of shots or cuts, "a single continuous shot", "no cuts", "fast" or
  "slow" pace against the measured cuts: counts must equal; fast means at least
  :data:`FAST_CUTS_PER_MIN` cuts a minute, slow at most :data:`SLOW_CUTS_PER_MIN`. Shots given
  as time spans ("the shots are 0.0–2.0 s, 2.0–4.0 s") must begin and end at measured cuts
  (within :data:`CUT_TOLERANCE_S`; the clip's own start and end excepted).
* **object** — every COCO object named (synonyms mapped) against the detections of all
  sampled frames (``detect_objects``): supported when each was detected somewhere,
  contradicted when one was detected in no frame (CHAIR: a claimed object absent from every
  sampled frame). Small objects are missed by the detector; the evidence says so. Objects
  outside COCO's 80 classes ("looks like an oboe") are unverifiable here (the judge may take
  them: ``judge_types: [object]``).
* **person** — people/faces claimed present against person boxes and faces; "nobody / no
  one / empty" against their absence.
* **onscreen_text** — quoted words (or the word after "reads" / "the word") against the OCR
  text of the video — each merged text and every frame's own readings — supported when found
  (case, spacing and punctuation ignored), contradicted when OCR read other text or none.
* **speech** — the claim's content words against the transcript: supported when at least
  :data:`SPEECH_MIN_WORDS` of them occur in it, contradicted when none does or nothing was
  said (no audio, no speech recognised); unverifiable in between.
* **sound** — music / silence / speech / laughter / applause / tone / noise claimed present
  against the sound-event categories (``describe_audio``); "silent" against a soundtrack
  that has sound; "no audio track" against the file's audio stream (without sound events:
  against the transcript — no audio stream: supported; speech recognised: contradicted).
* **metadata** — a year against the item's ``year`` metadata.
* **the opening or the end** — a claim of any type above that is about the clip's opening
  ("opens with a close-up", "the first shot", "at the start") or its end ("ends on", "the
  final shot", "finally") is checked against that moment only: the first (last) sampled
  frame, the shot holding it, and the speech and sound of that shot (:func:`anchored`).
* **content** — what the video is said to show, depict, feature, contain or be about,
  against every word of its evidence (``pipelines/audit/content.py``): ``supported``,
  ``unsupported`` when a thing named is found nowhere in it (a hallucination of content), or
  ``unverifiable`` when only partly found.
* **temporal** (order: "then", "before", "after") and **interpretation** — unverifiable here
  (temporal claims go to the LLM judge when one is configured, ``pipelines/audit/judge.py``;
  interpretations — judgements such as "conveys suspense" — are never hallucinations).

A claim of any other type that also asserts content ("The video shows horse sketches with
motion and lighting": lighting) is checked by its type's rule *and* the content rule: one
contradicted part makes it contradicted, else one unsupported part unsupported, else it is
supported when every rule that applies supports it (a rule applies when the claim names what
it checks: a light level, a colour, a COCO object …; :attr:`Verdict.applies`).

A claim whose evidence stage did not run is ``unverifiable`` with the reason. A frame
description's claims are checked against that frame's own evidence (:func:`at_time`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipelines.audit.claims import claim_type
from pipelines.audit.content import check_content as content_verdict
from pipelines.audit.lexicon import (
    CLOSING,
    COLOURS,
    FILLER,
    METADATA_SUBJECT,
    MOVEMENT_CUES,
    NEGATED_SHOWING,
    NO_AUDIO,
    NUMBERS,
    OPENING,
    ORDER,
    SCALE_CUES,
    SOUND_CUES,
    SPEECH_VERBS,
    UNQUOTED_STOP,
    object_names,
)
from pipelines.audit.verdicts import Evidence, Verdict

FAST_CUTS_PER_MIN = 20.0
CUT_TOLERANCE_S = 0.5
SPAN = r"(\d+(?:\.\d+)?)\s*(?:–|-|to)\s*(\d+(?:\.\d+)?)\s*(?:s\b|sec)"
SLOW_CUTS_PER_MIN = 6.0
SPEECH_MIN_WORDS = 2


EVIDENCE_STAGES = ("measure_visuals", "detect_objects", "read_onscreen_text", "transcribe_audio", "describe_audio",
                   "describe_frames", "summarize")  # the records :func:`video_evidence` reads


@dataclass
class VideoEvidence:
    """The records a claim is checked against (any may be missing), and the item's own text."""

    visuals: Any = None  # VisualsRecord
    objects: Any = None  # ObjectsRecord
    ocr: Any = None  # OnscreenTextRecord
    transcript: Any = None  # TranscriptRecord
    sound: Any = None  # AudioEventsRecord
    metadata: dict[str, Any] = field(default_factory=dict)
    descriptions: Any = None  # FrameDescriptionsRecord: its ImageNet labels are evidence, its texts are not
    title: str = ""
    description: str = ""
    shown_metadata: str = ""  # the metadata fields shown to the model (summarize's metadata section)
    task_words: frozenset[str] = frozenset()  # the task's label words: naming them names no content


def task_words(task: str | None) -> frozenset[str]:
    """The words of the task's labels, their descriptions and its generic words (what restating
    a label says): none of them names what a video shows."""
    if not task:
        return frozenset()
    from pipelines.hypotheses import task_words as words
    from pipelines.tasks import get_task

    try:
        return frozenset(words(get_task(task)))
    except Exception:  # noqa: BLE001 - a task this process cannot load: its words are just not ignored
        return frozenset()


def video_evidence(item: Any, inputs: dict[str, Any], task: str | None = None,
                   hide: Callable[[str], bool] | None = None) -> VideoEvidence:
    """The video's evidence from its upstream records (``inputs``: stage -> record, any of
    :data:`EVIDENCE_STAGES` may be missing): its records, its title and description, the
    metadata shown to the model (summarize's metadata section) and the ImageNet labels of its
    frames. One builder for the ``audit_claims`` stage and for predict's check of its own
    explanations, so both judge a claim against the same evidence.

    Args:
        hide: metadata fields to leave out (predict: the fields that define the label, so that
            no verdict's reason can carry them into a prompt).
    """
    summary = inputs.get("summarize")
    shown = " ".join(p.text for p in getattr(summary, "parts", []) if p.name == "metadata")
    metadata = {k: v for k, v in dict(item.metadata).items() if hide is None or not hide(k)}
    return VideoEvidence(visuals=inputs.get("measure_visuals"), objects=inputs.get("detect_objects"),
                         ocr=inputs.get("read_onscreen_text"), transcript=inputs.get("transcribe_audio"),
                         sound=inputs.get("describe_audio"), metadata=metadata,
                         descriptions=inputs.get("describe_frames"), title=item.title, description=item.description,
                         shown_metadata=shown, task_words=task_words(task))


def audited_claim(source: str, claim: Any, ev: VideoEvidence) -> Any:
    """``claim`` (``claims.Claim``) of the text ``source`` with its rule verdict against ``ev``,
    as the audit records it (``records.AuditedClaim``, the evidence cited)."""
    from pipelines.records import AuditedClaim, EvidenceRef

    verdict = check_claim(claim.text, claim.type, ev)
    cited = [EvidenceRef(stage=e.stage, field=e.field, value=(e.value if isinstance(e.value, str) else str(e.value))
                         [:300], time_s=e.time_s, frame_index=e.frame_index) for e in verdict.evidence]
    return AuditedClaim(source=source, text=claim.text, start=claim.start, end=claim.end, type=claim.type,
                        verdict=verdict.verdict, reason=verdict.reason, evidence=cited)


def at_time(ev: VideoEvidence, time_s: float) -> VideoEvidence:
    """The evidence of one moment, for claims about one frame (a frame description): the
    sampled frame nearest ``time_s`` (its light, colour, faces, objects and on-screen text) and
    the shot holding it; speech, sound and metadata stay whole."""
    def nearest(frames: list[Any]) -> list[Any]:
        return [min(frames, key=lambda f: abs(f.timestamp_s - time_s))] if frames else []

    visuals, objects, ocr = ev.visuals, ev.objects, ev.ocr
    if visuals is not None:
        frames = nearest(visuals.frames)
        shots = [s for s in visuals.shots if s.start_s <= time_s < s.end_s] or visuals.shots[-1:]
        visuals = visuals.model_copy(update={"frames": frames, "shots": shots})
    if objects is not None:
        objects = objects.model_copy(update={"frames": nearest(objects.frames)})
    if ocr is not None:
        frame = nearest(ocr.frames)
        index = frame[0].frame_index if frame else None
        ocr = ocr.model_copy(update={"frames": frame, "texts": [t for t in ocr.texts if index in t.frame_indices]})
    descriptions = ev.descriptions
    if descriptions is not None:
        descriptions = descriptions.model_copy(update={"descriptions": nearest(descriptions.descriptions)})
    return VideoEvidence(visuals=visuals, objects=objects, ocr=ocr, transcript=ev.transcript, sound=ev.sound,
                         metadata=ev.metadata, descriptions=descriptions, title=ev.title, description=ev.description,
                         shown_metadata=ev.shown_metadata, task_words=ev.task_words)


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.casefold()))


def _has(text: str, pattern: str) -> bool:
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def _missing(stage: str) -> Verdict:
    return Verdict("unverifiable", f"no {stage} record for this video")


def check_lighting(claim: str, ev: VideoEvidence) -> Verdict:
    if ev.visuals is None:
        return _missing("measure_visuals")
    frames = ev.visuals.frames
    levels = [key for key, cue in (("low-key", r"\b(dark\w*|dim\w*|low-?key|shadow\w*|gloom\w*|night)"),
                                   ("high-key", r"\b(bright\w*|high-?key|well[- ]lit|sunlit|sunny)"),
                                   ("mid-key", r"\b(mid-?key|evenly lit|even lighting|neutral lighting)"))
              if _has(claim, cue)]
    if not frames or len(levels) != 1:
        return Verdict("unverifiable", "no sampled frames" if not frames else "the claim names no single light level",
                       applies=bool(levels) or not frames)
    key = levels[0]
    hits = [f for f in frames if f.lighting_key == key]
    evidence = [Evidence("measure_visuals", "frames.lighting_key", f.lighting_key, f.timestamp_s, f.frame_index)
                for f in (hits or frames)[:3]]
    share = len(hits) / len(frames)
    if share >= 0.5:
        return Verdict("supported", f"{len(hits)} of {len(frames)} sampled frames are {key}", evidence)
    if not hits:
        return Verdict("contradicted", f"none of the {len(frames)} sampled frames is {key} (mean luminance "
                                       f"{ev.visuals.luminance:.2f}, {ev.visuals.lighting_key})", evidence)
    return Verdict("unverifiable", f"only {len(hits)} of {len(frames)} sampled frames are {key}", evidence)


def check_colour(claim: str, ev: VideoEvidence) -> Verdict:
    if ev.visuals is None:
        return _missing("measure_visuals")
    named = [("grey" if c == "gray" else c) for c in COLOURS if _has(claim, rf"\b{c}\w*")]
    named = list(dict.fromkeys(named))
    if not named or not ev.visuals.frames:
        return Verdict("unverifiable", "no colour named" if not named else "no sampled frames", applies=bool(named))
    evidence = []
    for colour in named:
        where = [f for f in ev.visuals.frames if f.dominant_colour == colour or any(p.name == colour for p in f.palette)]
        if not where:
            seen = sorted({p.name for f in ev.visuals.frames for p in f.palette})
            return Verdict("contradicted", f"{colour} is in no sampled frame's palette (palettes: {', '.join(seen)})",
                           [Evidence("measure_visuals", "frames.palette", seen)])
        evidence.append(Evidence("measure_visuals", "frames.palette", colour, where[0].timestamp_s, where[0].frame_index))
    return Verdict("supported", f"{', '.join(named)} measured in the frames' palettes", evidence)


def check_shot_scale(claim: str, ev: VideoEvidence) -> Verdict:
    if ev.visuals is None:
        return _missing("measure_visuals")
    named = [scale for scale, cue in SCALE_CUES if _has(claim, rf"\b{cue}\b")]
    measured = [s for s in ev.visuals.shots if s.shot_scale]
    if not named:
        return Verdict("unverifiable", "no shot scale named", applies=False)
    if not measured:
        return Verdict("unverifiable", "no shot's scale could be measured (no face or person found)")
    for scale in named:
        hits = [s for s in measured if s.shot_scale == scale]
        if not hits:
            return Verdict("contradicted", f"no shot is a {scale}; measured: "
                           + ", ".join(f"{s.start_s:.1f}–{s.end_s:.1f} s {s.shot_scale}" for s in measured),
                           [Evidence("measure_visuals", "shots.shot_scale", s.shot_scale, s.start_s) for s in measured])
    hit = next(s for s in measured if s.shot_scale in named)
    return Verdict("supported", f"the shot at {hit.start_s:.1f}–{hit.end_s:.1f} s is a {hit.shot_scale}",
                   [Evidence("measure_visuals", "shots.shot_scale", hit.shot_scale, hit.start_s)])


def check_camera_movement(claim: str, ev: VideoEvidence) -> Verdict:
    if ev.visuals is None:
        return _missing("measure_visuals")
    named = []
    for movement, cue, _ in MOVEMENT_CUES:
        if _has(claim, cue) and not any(n.startswith(movement) for n in named):
            named.append(movement)
    named = [n for n in named if not any(other != n and other.startswith(n) for other in named)]
    shots = ev.visuals.shots
    measured = [s for s in shots if s.camera_movement != "unknown"]
    if not named:
        return Verdict("unverifiable", "no camera movement named", applies=False)
    if not measured:
        return Verdict("unverifiable", "no shot's camera movement could be measured")
    for movement in named:
        hits = [s for s in measured if s.camera_movement == movement or s.camera_movement.startswith(movement + " ")]
        if hits:
            s = hits[0]
            return Verdict("supported", f"the shot at {s.start_s:.1f}–{s.end_s:.1f} s: {s.camera_movement}",
                           [Evidence("measure_visuals", "shots.camera_movement", s.camera_movement, s.start_s)])
    if len(measured) == len(shots):
        return Verdict("contradicted", "no shot moves so; measured: " + ", ".join(
            f"{s.start_s:.1f}–{s.end_s:.1f} s {s.camera_movement}" for s in measured),
            [Evidence("measure_visuals", "shots.camera_movement", s.camera_movement, s.start_s) for s in measured])
    return Verdict("unverifiable", "not among the measured shots, but some shots could not be measured")


def _count(claim: str, noun: str) -> int | None:
    match = re.search(rf"\b(\d+|{'|'.join(NUMBERS)})\s+(\w+\s+)?{noun}s?\b", claim, flags=re.IGNORECASE)
    if not match:
        return None
    word = match.group(1).casefold()
    return int(word) if word.isdigit() else NUMBERS[word]


def check_editing(claim: str, ev: VideoEvidence) -> Verdict:
    if ev.visuals is None:
        return _missing("measure_visuals")
    v = ev.visuals
    cuts = len(v.cuts_s)
    duration = max((s.end_s for s in v.shots), default=0.0)
    per_min = cuts / duration * 60 if duration else 0.0
    evidence = [Evidence("measure_visuals", "cuts_s", v.cuts_s), Evidence("measure_visuals", "shot_count", v.shot_count)]
    expected: tuple[str, bool] | None = None
    spans = [(float(a), float(b)) for a, b in re.findall(SPAN, claim)]
    if spans:
        claimed = sorted({t for span in spans for t in span if 0 < t < duration - CUT_TOLERANCE_S})
        stray = [t for t in claimed if not any(abs(t - c) <= CUT_TOLERANCE_S for c in v.cuts_s)]
        shown = ", ".join(f"{c:.1f}" for c in v.cuts_s) or "none"
        if stray:
            return Verdict("contradicted", f"no cut measured near {', '.join(f'{t:.1f}' for t in stray)} s "
                                           f"(cuts measured at {shown} s)", evidence)
        return Verdict("supported", f"every shot boundary claimed is a measured cut (cuts at {shown} s)", evidence)
    if (n := _count(claim, "shot")) is not None:
        expected = (f"{n} shots", n == v.shot_count)
    elif (n := _count(claim, "cut")) is not None:
        expected = (f"{n} cuts", n == cuts)
    elif _has(claim, r"\b(single|one|continuous|uninterrupted) (continuous )?(take|shot)\b|\bno cuts?\b"):
        expected = ("no cut", cuts == 0)
    elif _has(claim, r"\b(fast|quick|rapid|frenetic)\b"):
        expected = (f"fast cutting (≥ {FAST_CUTS_PER_MIN:.0f} cuts a minute)", per_min >= FAST_CUTS_PER_MIN)
    elif _has(claim, r"\b(slow|leisurely|long takes?)\b"):
        expected = (f"slow cutting (≤ {SLOW_CUTS_PER_MIN:.0f} cuts a minute)", per_min <= SLOW_CUTS_PER_MIN)
    if expected is None:
        return Verdict("unverifiable", "no count or pace of cuts named", applies=False)
    what, holds = expected
    measured = f"{v.shot_count} shots, {cuts} cuts ({per_min:.0f} a minute)"
    return Verdict("supported" if holds else "contradicted", f"claimed {what}; measured {measured}", evidence)


def check_object(claim: str, ev: VideoEvidence) -> Verdict:
    named = object_names(claim)
    if not named:
        return Verdict("unverifiable", "names no object of the detector's 80 COCO classes", applies=False)
    if ev.objects is None:
        return _missing("detect_objects")
    seen: dict[str, Any] = {}
    for frame in ev.objects.frames:
        for o in frame.objects:
            seen.setdefault(o.label, (frame, o))
    absent = [n for n in named if n not in seen]
    if absent:
        return Verdict("contradicted", f"{', '.join(absent)} detected in none of the {len(ev.objects.frames)} sampled "
                                       "frames (objects under ~5 % of the frame can be missed)",
                       [Evidence("detect_objects", "counts", dict(ev.objects.counts))])
    return Verdict("supported", "detected: " + ", ".join(f"{n} ({seen[n][1].score:.2f})" for n in named),
                   [Evidence("detect_objects", "frames.objects", n, seen[n][0].timestamp_s, seen[n][0].frame_index)
                    for n in named])


def check_person(claim: str, ev: VideoEvidence) -> Verdict:
    if ev.visuals is None and ev.objects is None:
        return _missing("measure_visuals or detect_objects")
    people: list[tuple[float, int]] = []
    if ev.visuals is not None:
        people += [(f.timestamp_s, f.frame_index) for f in ev.visuals.frames if f.faces or f.people]
        people += [(s.start_s, -1) for s in ev.visuals.shots if s.scale_basis in ("face", "person")]
    if ev.objects is not None:
        people += [(f.timestamp_s, f.frame_index) for f in ev.objects.frames if any(o.label == "person" for o in f.objects)]
    if _has(claim, r"\b(no|without) (frontal )?faces?\b"):  # about faces only: people may be seen from afar
        if ev.visuals is None:
            return _missing("measure_visuals")
        faces = [f for f in ev.visuals.frames if f.faces]
        return (Verdict("contradicted", f"faces found in {len(faces)} sampled frames",
                        [Evidence("measure_visuals", "frames.faces", len(f.faces), f.timestamp_s, f.frame_index)
                         for f in faces[:3]]) if faces else
                Verdict("supported", "no frontal face found in any sampled frame",
                        [Evidence("measure_visuals", "frames_with_faces", 0)]))
    absent_claim = _has(claim, r"\b(nobody|no one|no (people|persons?|humans?)|without (people|a person|anyone)|"
                               r"empty|deserted|unpeopled)\b")
    evidence = [Evidence("measure_visuals" if ev.visuals is not None else "detect_objects", "faces/people", "person",
                         t, i if i >= 0 else None) for t, i in people[:3]]
    if absent_claim:
        return (Verdict("contradicted", f"people measured in {len(people)} places", evidence) if people
                else Verdict("supported", "no face or person found in any sampled frame or shot"))
    if people:
        return Verdict("supported", "a face or a person was found", evidence)
    return Verdict("contradicted", "no face and no person found in any sampled frame or shot",
                   [Evidence("measure_visuals", "frames_with_faces", getattr(ev.visuals, "frames_with_faces", 0))])


def _quoted(claim: str) -> list[str]:
    quoted = re.findall(r"[\"“']([^\"”']{1,60})[\"”']", claim)
    if not quoted:
        match = re.search(r"\b(?:reads|the words?|says on screen)\s+[\"“]?([A-Za-z0-9][\w ]{0,40}?)[\"”]?(?:[.,;]|$)",
                          claim)
        # unquoted, what follows is the words read only when none of it is a function word ("reads GREEN",
        # not "reads the word on the screen out loud")
        quoted = [match.group(1)] if match and not set(_words(match.group(1)).split()) & UNQUOTED_STOP else []
    return [q for q in quoted if _words(q)]


def check_onscreen_text(claim: str, ev: VideoEvidence) -> Verdict:
    if ev.ocr is None:
        return _missing("read_onscreen_text")
    wanted = _quoted(claim)
    read = " | ".join(t.text for t in ev.ocr.texts)
    if not wanted:
        if _has(claim, r"\bno (on-?screen )?text\b"):
            return Verdict("contradicted" if ev.ocr.texts else "supported", f"OCR read: {read or 'nothing'}",
                           [Evidence("read_onscreen_text", "texts", read)])
        return Verdict("unverifiable", "no words quoted", applies=False)
    # every reading of every frame, not only the merged texts: a merge shows one reading of several
    lines = [(line.text, f.timestamp_s, f.frame_index) for f in ev.ocr.frames for line in f.lines]
    readings = [(t.text, t.first_s, t.frame_indices[0] if t.frame_indices else None) for t in ev.ocr.texts] + lines
    haystack = " | ".join(_words(text) for text, _, _ in readings)
    for word in wanted:
        if _words(word) not in haystack:
            return Verdict("contradicted", f"{word!r} was not read on screen; OCR read: {read or 'nothing'}",
                           [Evidence("read_onscreen_text", "texts", read)])
    hits = list(dict.fromkeys(r for r in readings if any(_words(w) in _words(r[0]) for w in wanted)))
    return Verdict("supported", f"read on screen: {', '.join(dict.fromkeys(text for text, _, _ in hits))}",
                   [Evidence("read_onscreen_text", "texts", text, time_s, index) for text, time_s, index in hits[:4]])


def _words_in(own: set[str], text: str, where: str, evidence: list[Evidence]) -> Verdict:
    """A claim's content words (``own``, not empty) against the words of ``text``: supported
    when enough are found, contradicted when none is, else unverifiable; ``where`` names the
    text in the reason ("the transcript")."""
    from pipelines.hypotheses import content_words

    shared = own & content_words(text)
    if len(shared) >= min(SPEECH_MIN_WORDS, len(own)):
        return Verdict("supported", f"{where} has {', '.join(sorted(shared))}", evidence)
    if not shared:
        return Verdict("contradicted", f"none of {', '.join(sorted(own))} is in {where}", evidence)
    return Verdict("unverifiable", f"only {', '.join(sorted(shared))} of the claim is in {where}", evidence)


def check_stated(claim: str, ev: VideoEvidence) -> Verdict | None:
    """A claim about what the title, description or tags say ("The description mentions street
    photography"), checked against those fields; ``None`` when the claim names none of them."""
    from pipelines.hypotheses import content_words

    if not re.search(METADATA_SUBJECT + r"\s+(says?|mentions?|reads|is|calls?|describes?|names?|includes?)\b",
                     claim, flags=re.IGNORECASE):
        return None
    text = " ".join(x for x in (ev.title, ev.description, ev.shown_metadata) if x)
    own = content_words(re.sub(SPEECH_VERBS + "|" + METADATA_SUBJECT, " ", claim, flags=re.IGNORECASE), ev.task_words)
    if not own or not text:
        return Verdict("unverifiable", "no title, description or tags to check it against" if own else
                       "it names nothing the title, description or tags could hold", applies=False)
    return _words_in(own, text, "the title, description or tags", [Evidence("item", "title, description", text[:200])])


def check_speech(claim: str, ev: VideoEvidence) -> Verdict:
    said = check_stated(claim, ev)
    if said is not None:
        return said
    if ev.transcript is None:
        return _missing("transcribe_audio")
    from pipelines.hypotheses import content_words

    text = ev.transcript.text
    if ev.transcript.no_audio or not text.strip():
        return Verdict("contradicted", "nothing is said: " + ("no audio track" if ev.transcript.no_audio
                                                              else "no speech recognised"),
                       [Evidence("transcribe_audio", "segments", [])])
    own = content_words(re.sub(SPEECH_VERBS, " ", claim, flags=re.IGNORECASE))
    evidence = [Evidence("transcribe_audio", "text", text[:200], ev.transcript.segments[0].start_s)]
    if not own:
        return Verdict("supported", "someone speaks", evidence)
    return _words_in(own, text, "the transcript", evidence)


def check_sound(claim: str, ev: VideoEvidence) -> Verdict:
    negated = re.search(NEGATED_SHOWING, claim, flags=re.IGNORECASE)
    if negated is not None and _has(claim[negated.end():], NO_AUDIO):
        return Verdict("unverifiable", "the absence of sound is said of what the video does not show", applies=False)
    if ev.sound is None and ev.transcript is not None and _has(claim, NO_AUDIO):
        t = ev.transcript  # without sound events, the transcript still knows whether there is audio and speech
        if t.no_audio:
            return Verdict("supported", "the video has no audio track", [Evidence("transcribe_audio", "no_audio", True)])
        if t.text.strip():
            return Verdict("contradicted", "the video has audio: speech was recognised",
                           [Evidence("transcribe_audio", "text", t.text[:200], t.segments[0].start_s)])
        return Verdict("unverifiable", "the video has an audio track but no speech was recognised (no sound events "
                                       "were measured: describe_audio)", [Evidence("transcribe_audio", "no_audio", False)])
    if ev.sound is None:
        return _missing("describe_audio")
    categories = dict(ev.sound.categories)
    if _has(claim, NO_AUDIO):
        if getattr(ev.sound, "no_audio", False):
            return Verdict("supported", "the video has no audio track", [Evidence("describe_audio", "no_audio", True)])
        heard = ", ".join(f"{c} {s:.1f} s" for c, s in sorted(categories.items(), key=lambda kv: -kv[1]))
        return Verdict("contradicted", f"the video has an audio track; sound events: {heard or 'none'}",
                       [Evidence("describe_audio", "categories", categories)])
    named = [c for c, cue in SOUND_CUES if _has(claim, cue)]
    if not named:
        return Verdict("unverifiable", "no sound named", applies=False)
    if getattr(ev.sound, "no_audio", False):
        ok = named == ["silence"]
        return Verdict("supported" if ok else "contradicted", "the video has no audio track",
                       [Evidence("describe_audio", "no_audio", True)])
    heard = ", ".join(f"{c} {s:.1f} s" for c, s in sorted(categories.items(), key=lambda kv: -kv[1]))
    for category in named:
        if categories.get(category, 0.0) <= 0:
            return Verdict("contradicted", f"no {category} was heard; sound events: {heard or 'none'}",
                           [Evidence("describe_audio", "categories", categories)])
    first = next((s for s in ev.sound.segments if s.category in named), None)
    return Verdict("supported", f"heard: {heard}", [Evidence("describe_audio", "segments", first.label if first else
                                                            named[0], first.start_s if first else None)])


def check_metadata(claim: str, ev: VideoEvidence) -> Verdict:
    year = ev.metadata.get("year")
    match = re.search(r"\b(1[89]\d\d|20\d\d)\b", claim)
    if match and year:
        holds = str(year) == match.group(1)
        return Verdict("supported" if holds else "contradicted", f"the item's year is {year}",
                       [Evidence("item", "metadata.year", year)])
    return check_stated(claim, ev) or Verdict("unverifiable", "no checkable metadata fact", applies=False)


def check_content(claim: str, ev: VideoEvidence) -> Verdict:
    """What the claim says the video shows, against every word of its evidence (rules:
    ``pipelines/audit/content.py``)."""
    return content_verdict(claim, ev)


CHECKERS = {
    "content": check_content,
    "lighting": check_lighting, "colour": check_colour, "shot_scale": check_shot_scale,
    "camera_movement": check_camera_movement, "editing": check_editing, "object": check_object,
    "person": check_person, "onscreen_text": check_onscreen_text, "speech": check_speech, "sound": check_sound,
    "metadata": check_metadata,
}


def _frame_times(ev: VideoEvidence) -> list[float]:
    for frames in (getattr(ev.visuals, "frames", None), getattr(ev.objects, "frames", None),
                   getattr(ev.ocr, "frames", None)):
        if frames:
            return sorted(f.timestamp_s for f in frames)
    return []


def anchored(ev: VideoEvidence, where: str) -> tuple[VideoEvidence, str] | None:
    """The evidence of the clip's opening (``where="start"``) or closing moment: the first (last)
    sampled frame as :func:`at_time` gives it, and the speech and sound events of the shot
    holding that frame. None when no frame was sampled."""
    times = _frame_times(ev)
    if not times:
        return None
    time_s = times[0] if where == "start" else times[-1]
    moment = at_time(ev, time_s)
    shot = moment.visuals.shots[0] if moment.visuals is not None and moment.visuals.shots else None
    begin, end = (shot.start_s, shot.end_s) if shot is not None else (
        (0.0, time_s + 1.0) if where == "start" else (time_s - 1.0, float("inf")))
    transcript, sound = moment.transcript, moment.sound
    if transcript is not None:
        transcript = transcript.model_copy(update={"segments": [s for s in transcript.segments
                                                                if s.end_s > begin and s.start_s < end]})
    if sound is not None and not getattr(sound, "no_audio", False):
        segments = [s for s in sound.segments if s.end_s > begin and s.start_s < end]
        seconds: dict[str, float] = {}
        for s in segments:
            seconds[s.category] = seconds.get(s.category, 0.0) + min(s.end_s, end) - max(s.start_s, begin)
        sound = sound.model_copy(update={"segments": segments, "categories": seconds})
    moment.transcript, moment.sound = transcript, sound
    span = f"{begin:.1f}–{end:.1f} s" if end != float("inf") else f"from {begin:.1f} s"
    return moment, f"{'opening' if where == 'start' else 'closing'} shot ({span})"


def _check_at(text: str, kind: str, ev: VideoEvidence, where: str) -> Verdict:
    found = anchored(ev, where)
    if found is None:
        return Verdict("unverifiable", f"no sampled frame to find the clip's {where}")
    moment, label = found
    verdict = CHECKERS[kind](text, moment)
    return Verdict(verdict.verdict, f"{label}: {verdict.reason}", verdict.evidence, verdict.applies)


def check_claim(text: str, kind: str, ev: VideoEvidence, *, content: bool = True) -> Verdict:
    """The verdict of one claim of type ``kind`` (rules in the module doc).

    A claim about the clip's opening ("opens with a close-up", "the first shot ...") or its
    end ("ends on a long shot", "finally ...") is checked against that moment only
    (:func:`anchored`); one naming both is cut at the closing cue and both parts must hold.
    A claim of another type that also asserts content is checked by the content rule as well
    (:func:`with_content`; ``content=False``: the type's rule alone).
    """
    if kind == "content":
        found = check_content(text, ev)
        if found.verdict == "supported" and ordered(text):
            return Verdict("unverifiable", f"content: {found.reason}; the order of events is not checked by rules",
                           found.evidence)
        return found
    verdict = _check_typed(text, kind, ev)
    return with_content(verdict, text, kind, ev) if content and kind != "interpretation" else verdict


def with_content(verdict: Verdict, text: str, kind: str, ev: VideoEvidence) -> Verdict:
    """``verdict`` (of the claim's type rule) joined with the content rule's, when ``text`` also
    asserts content (module doc): contradicted, then unsupported, win; supported needs every
    rule that applies to support it; otherwise unverifiable, with both reasons."""
    found = check_content(text, ev)
    if not found.applies:
        return verdict
    if verdict.verdict == "contradicted":  # the worse verdict stands; what is also missing is said
        also = f"; also, content: {found.reason}" if found.verdict == "unsupported" else ""
        return Verdict("contradicted", verdict.reason + also, [*verdict.evidence, *found.evidence])
    both = [f"{kind}: {verdict.reason}", f"content: {found.reason}"]
    if found.verdict == "unsupported":
        return Verdict("unsupported", f"content: {found.reason} ({kind}: {verdict.reason})",
                       [*found.evidence, *verdict.evidence])
    applying = [v for v in (verdict, found) if v.applies]
    if applying and all(v.verdict == "supported" for v in applying):
        return Verdict("supported", "; ".join(both) if verdict.applies else f"content: {found.reason}",
                       [*verdict.evidence, *found.evidence])
    return Verdict("unverifiable", "; ".join(both), [*verdict.evidence, *found.evidence])


def _check_typed(text: str, kind: str, ev: VideoEvidence) -> Verdict:
    checker = CHECKERS.get(kind)
    if checker is None:
        reason = "an interpretation (a judgement): not a hallucination by definition" if kind == "interpretation" \
            else f"{kind} claims have no rule checker (an LLM judge may decide)"
        return Verdict("unverifiable", reason)
    if ordered(text):
        return _check_parts(text, ev)
    opening = re.search(OPENING, text, flags=re.IGNORECASE)
    closing = re.search(CLOSING, text, flags=re.IGNORECASE)
    if opening and closing and opening.start() < closing.start():
        first = _check_at(text[: closing.start()], kind, ev, "start")
        last = _check_at(text[closing.start():], kind, ev, "end")
        parts = (first, last)
        verdict = ("contradicted" if "contradicted" in (first.verdict, last.verdict) else
                   "supported" if first.verdict == last.verdict == "supported" else "unverifiable")
        return Verdict(verdict, "; ".join(p.reason for p in parts), [*first.evidence, *last.evidence],
                       applies=first.applies or last.applies)
    return _check_at(text, kind, ev, "start" if opening else "end") if opening or closing else checker(text, ev)


def ordered(text: str) -> bool:
    """Whether ``text`` claims an order of events ("then", "before", "after" ...)."""
    return _has(text, ORDER)


def _check_parts(text: str, ev: VideoEvidence) -> Verdict:
    """A claim that orders events, cut at its order words: each part is checked by its own type
    (``claims.claim_type``; a part of no checkable type is unverifiable); one part contradicted
    makes the claim contradicted; all parts supported leave the order itself unverifiable (the
    rules check what is named, not when: that is the judge's)."""

    verdicts = []
    for part in re.split(ORDER, text, flags=re.IGNORECASE):
        if not set(re.findall(r"\w+", part.casefold())) - FILLER:
            continue
        part_kind = claim_type(part)
        verdicts.append((part.strip(" ,;"), check_claim(part, part_kind, ev, content=False)
                         if part_kind in CHECKERS and part_kind != "content" else
                         Verdict("unverifiable", "no rule checks this part", applies=False)))
    wrong = [(part, v) for part, v in verdicts if v.verdict == "contradicted"]
    if wrong:
        part, v = wrong[0]
        return Verdict("contradicted", f"{part!r}: {v.reason}", v.evidence)
    evidence = [e for _, v in verdicts for e in v.evidence]
    if verdicts and all(v.verdict == "supported" for _, v in verdicts):
        return Verdict("unverifiable", "each part holds (" + "; ".join(f"{p!r}: {v.reason}" for p, v in verdicts)
                       + "); their order is not checked by rules", evidence)
    return Verdict("unverifiable", "the order of events is not checked by rules; " + "; ".join(
        f"{p!r}: {v.reason}" for p, v in verdicts), evidence)
