"""The LLM judge: claims the rules cannot decide, judged against the video's evidence timeline.

The judge (any backend and model: ``audit_claims.llm``) sees the video's evidence as numbered
lines in time order (:func:`timeline`) — shots with their measured scale and camera movement,
per-frame light and colour, detected objects, on-screen text, speech segments, sound events,
the year — and one claim (``prompts/common/audit_judge.md``). It answers in a JSON schema:
a reason first, then the numbers of the lines it rests on, then the verdict.

A verdict is only as good as its evidence: ``supported`` or ``contradicted`` without a valid
line number (none, or one not on the list) is recorded as ``unverifiable``, with the judge's
reason kept. An unreadable answer is ``unverifiable`` too, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.audit.checks import Evidence, Verdict, VideoEvidence

PROMPT = "common/audit_judge"
VERDICTS = ("supported", "contradicted", "unverifiable")
MAX_CITED = 4


@dataclass(frozen=True)
class Line:
    start_s: float
    text: str
    evidence: Evidence


def _span(start: float, end: float) -> str:
    return f"{start:.1f}–{end:.1f} s"


def timeline(ev: VideoEvidence, max_lines: int = 60) -> list[Line]:
    """The evidence as lines in time order; past ``max_lines`` the per-frame light and colour
    lines go first (the shots sum them up), then the latest lines."""
    lines: list[Line] = []
    frame_lines: list[Line] = []
    if ev.visuals is not None:
        for s in ev.visuals.shots:
            scale = s.shot_scale or "scale unknown"
            lines.append(Line(s.start_s, f"[{_span(s.start_s, s.end_s)}] shot {s.index + 1}: {scale}, camera "
                                         f"{s.camera_movement}",
                              Evidence("measure_visuals", "shots", f"{scale}, {s.camera_movement}", s.start_s)))
        for f in ev.visuals.frames:
            faces = f"{len(f.faces)} face(s)" if f.faces else "no face"
            frame_lines.append(Line(f.timestamp_s, f"[{f.timestamp_s:.1f} s] frame: {f.lighting_key} light, dominant "
                                                   f"colour {f.dominant_colour}, {faces}",
                                    Evidence("measure_visuals", "frames", f"{f.lighting_key}, {f.dominant_colour}",
                                             f.timestamp_s, f.frame_index)))
    if ev.objects is not None:
        for f in ev.objects.frames:
            names = ", ".join(dict.fromkeys(o.label for o in f.objects)) or "no object detected"
            lines.append(Line(f.timestamp_s, f"[{f.timestamp_s:.1f} s] objects: {names}",
                              Evidence("detect_objects", "frames.objects", names, f.timestamp_s, f.frame_index)))
    if ev.ocr is not None:
        for t in ev.ocr.texts:
            lines.append(Line(t.first_s, f"[{_span(t.first_s, t.last_s)}] on-screen text: \"{t.text}\"",
                              Evidence("read_onscreen_text", "texts", t.text, t.first_s,
                                       t.frame_indices[0] if t.frame_indices else None)))
    if ev.transcript is not None:
        if ev.transcript.no_audio or not ev.transcript.segments:
            lines.append(Line(0.0, "[whole clip] speech: none (" + ("no audio track)" if ev.transcript.no_audio else
                                                                     "no speech recognised)"),
                              Evidence("transcribe_audio", "segments", "none")))
        for seg in ev.transcript.segments:
            lines.append(Line(seg.start_s, f"[{_span(seg.start_s, seg.end_s)}] speech: \"{seg.text.strip()}\"",
                              Evidence("transcribe_audio", "segments", seg.text.strip(), seg.start_s)))
    if ev.sound is not None:
        for seg in ev.sound.segments:
            lines.append(Line(seg.start_s, f"[{_span(seg.start_s, seg.end_s)}] sound: {seg.category} ({seg.label})",
                              Evidence("describe_audio", "segments", f"{seg.category} ({seg.label})", seg.start_s)))
    if ev.metadata.get("year"):
        lines.append(Line(-1.0, f"[metadata] year: {ev.metadata['year']}", Evidence("item", "metadata.year",
                                                                                  ev.metadata["year"])))
    room = max_lines - len(lines)
    lines += frame_lines[: max(room, 0)]
    lines.sort(key=lambda line: line.start_s)
    return lines[:max_lines]


def judge_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {
        "reason": {"type": "string", "minLength": 10, "maxLength": 240},
        "evidence": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": MAX_CITED},
        "verdict": {"type": "string", "enum": list(VERDICTS)},
    }, "required": ["reason", "evidence", "verdict"]}


def numbered(lines: list[Line]) -> str:
    return "\n".join(f"{n}. {line.text}" for n, line in enumerate(lines, 1))


def judge_messages(claim: str, lines: list[Line]) -> list[tuple[str, str]]:
    from pipelines.prompts import load_prompt

    return load_prompt(PROMPT).messages(evidence=numbered(lines) or "(no evidence was measured)", claim=claim)


def read_judgement(reply: str, lines: list[Line], judge: str) -> Verdict:
    """The judge's verdict from ``reply`` (module doc: a verdict without a valid cited line is
    unverifiable)."""
    from pipelines.models.structured import json_objects

    found = [o for o in json_objects(reply) if o.get("verdict") in VERDICTS]
    if not found:
        return Verdict("unverifiable", f"the judge ({judge}) gave no readable verdict")
    obj = found[-1]
    reason = " ".join(str(obj.get("reason", "")).split()) or "(no reason given)"
    cited = obj.get("evidence") if isinstance(obj.get("evidence"), list) else []
    valid = [lines[n - 1] for n in dict.fromkeys(cited) if isinstance(n, int) and 1 <= n <= len(lines)][:MAX_CITED]
    verdict = str(obj["verdict"])
    if verdict != "unverifiable" and not valid:
        return Verdict("unverifiable", f"the judge said {verdict} but cited no evidence line: {reason}")
    return Verdict(verdict, f"judge: {reason}", [line.evidence for line in valid])
