"""summarize: the deterministic "sequential text representation" of a video.

Everything known about the item, as plain text in a fixed order: title and metadata, the
timestamped frame descriptions (when a describing stage ran), and the timestamped
transcript. This is the text later stages embed, retrieve on and prompt with.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pipelines.records import Item, SummaryRecord, TranscriptRecord
from pipelines.stages.registry import StageConfig, StageContext, stage


class SummarizeConfig(StageConfig):
    include_metadata: bool = Field(True, description="add the manifest's metadata fields")
    timestamps: bool = Field(True, description="prefix frame descriptions and speech with [mm:ss.s]")
    max_chars: int = Field(20_000, ge=200, description="cut the text at this length")


def clock(seconds: float) -> str:
    minutes, rest = divmod(round(max(seconds, 0.0), 1), 60)
    return f"{int(minutes):02d}:{rest:04.1f}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def frame_lines(descriptions: list[Any], timestamps: bool) -> list[str]:
    """One line per run of consecutive frames with the same description, in time order:
    ``[00:00.4-00:01.8] text`` (a single frame gets a single time)."""
    runs: list[tuple[float, float, str]] = []
    for d in sorted(descriptions, key=lambda d: d.timestamp_s):
        text = _one_line(d.text)
        if runs and runs[-1][2] == text:
            runs[-1] = (runs[-1][0], d.timestamp_s, text)
        else:
            runs.append((d.timestamp_s, d.timestamp_s, text))
    if not timestamps:
        return [text for _, _, text in runs]
    return [
        (f"[{clock(start)}] " if start == end else f"[{clock(start)}-{clock(end)}] ") + text for start, end, text in runs
    ]


def transcript_lines(record: TranscriptRecord, timestamps: bool) -> list[str]:
    if record.no_audio:
        return ["(the video has no audio track)"]
    if not record.segments:
        return ["(no speech recognised)"]
    return [
        (f"[{clock(s.start_s)}-{clock(s.end_s)}] " if timestamps else "") + _one_line(s.text)
        for s in record.segments
        if s.text.strip()
    ]


@stage(
    "summarize",
    version=1,
    config=SummarizeConfig,
    record=SummaryRecord,
    uses=("describe_frames", "transcribe_audio"),
    reads=("metadata",),
)
def summarize(item: Item, cfg: SummarizeConfig, ctx: StageContext) -> SummaryRecord:
    parts: list[str] = []
    sections: list[str] = []

    parts.append(f"Title: {_one_line(item.title) or '(untitled)'}")
    sections.append("title")
    if item.description.strip():
        parts.append(f"Description: {_one_line(item.description)}")
        sections.append("description")
    metadata = {k: v for k, v in item.metadata.items() if v not in (None, "")}
    if cfg.include_metadata and metadata:
        parts.append("Metadata: " + "; ".join(f"{k}: {_one_line(v)}" for k, v in sorted(metadata.items())))
        sections.append("metadata")

    frames = ctx.inputs.get("describe_frames")
    descriptions = getattr(frames, "descriptions", None)
    if descriptions:
        parts.append("Frames:\n" + "\n".join(frame_lines(descriptions, cfg.timestamps)))
        sections.append("frames")

    transcript = ctx.inputs.get("transcribe_audio")
    if isinstance(transcript, TranscriptRecord):
        parts.append("Speech:\n" + "\n".join(transcript_lines(transcript, cfg.timestamps)))
        sections.append("speech")

    text = "\n\n".join(parts)
    if len(text) > cfg.max_chars:
        text = text[: cfg.max_chars - 1] + "…"
    return SummaryRecord(**ctx.provenance, text=text, sections=sections)
