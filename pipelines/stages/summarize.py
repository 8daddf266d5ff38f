"""summarize: the deterministic "sequential text representation" of a video.

Everything the model may know about the item, as plain text in sections, in a fixed order:

``title`` · ``description`` · ``metadata`` (only the fields named in
``summarize.metadata_fields``; default none) · ``visual_facts`` (measured light, colour,
cuts, motion, faces, each shot's scale and camera movement: ``measure_visuals``) ·
``objects`` (COCO objects: ``detect_objects``) · ``frames`` (timestamped frame
descriptions) · ``onscreen_text`` (OCR, deduplicated) · ``speech`` (timestamped transcript) ·
``sound`` (sound events: ``describe_audio``). A section whose stage is not in the config is
left out.

The text never holds a label: metadata is shown only by name, a field that defines the
task's label (popularity: view counts, countries) is refused at config time, and the runner
refuses a shown field that carries the gold label (``pipelines/leakage.py``). When the text
exceeds ``max_chars``, each section gets a share of it and long sections are cut on a word
boundary with a visible mark (``pipelines/budget.py``); the record keeps every section whole
in ``parts`` so that later stages fit the text into their own budgets.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipelines.budget import fit_sections
from pipelines.records import (
    FramesRecord,
    Item,
    ObjectsRecord,
    OnscreenTextRecord,
    SummaryRecord,
    SummarySection,
    TranscriptRecord,
    VisualsRecord,
)
from pipelines.stages.registry import StageConfig, StageContext, stage

Section = Literal["title", "description", "metadata", "visual_facts", "objects", "frames", "onscreen_text", "speech",
                  "sound"]
SECTIONS: tuple[str, ...] = ("title", "description", "metadata", "visual_facts", "objects", "frames", "onscreen_text",
                             "speech", "sound")
HEADINGS = {"title": "Title", "description": "Description", "metadata": "Metadata", "visual_facts": "Visual facts",
            "objects": "Objects", "frames": "Frames", "onscreen_text": "On-screen text", "speech": "Speech",
            "sound": "Sound"}
# relative shares of a budget: the modalities that carry most content get most room
SHARES = {"title": 1.0, "description": 2.0, "metadata": 1.0, "visual_facts": 2.0, "objects": 1.0, "frames": 5.0,
          "onscreen_text": 2.0, "speech": 5.0, "sound": 1.0}


class Ablation(BaseModel):
    """What the text representation leaves out or scrambles, to measure what the model uses
    (``m2t ablate``). Part of summarize's config, so every downstream cache key changes.

    * ``frames``: ``none`` drops the frame descriptions; ``shuffled`` keeps the timestamps but
      deals the descriptions out in a random order (seeded by the item id); ``blank`` replaces
      every description by "a blank frame";
    * ``speech`` / ``onscreen_text`` / ``visual_facts`` / ``objects`` / ``sound``: ``none``
      drops that section;
    * ``metadata``: ``title_only`` drops the description and the metadata fields.
    """

    model_config = ConfigDict(extra="forbid")

    frames: Literal["keep", "none", "shuffled", "blank"] = "keep"
    speech: Literal["keep", "none"] = "keep"
    onscreen_text: Literal["keep", "none"] = "keep"
    visual_facts: Literal["keep", "none"] = "keep"
    objects: Literal["keep", "none"] = "keep"
    sound: Literal["keep", "none"] = "keep"
    metadata: Literal["keep", "title_only"] = "keep"

    def active(self) -> dict[str, str]:
        """The switches set away from ``keep`` (empty: the full representation)."""
        return {k: v for k, v in self.model_dump().items() if v != "keep"}


BLANK_FRAME = "a blank frame"


class SummarizeConfig(StageConfig):
    task: str | None = Field(None, description="the case study's task (filled in): its label-defining fields are refused")
    metadata_fields: list[str] = Field(
        default_factory=list,
        description="manifest metadata fields shown to the model, e.g. [tags, channel]; default none. "
                    "The others stay in the run for analysis",
    )
    sections: list[Section] = Field(list(SECTIONS), description="sections of the text, in this order")
    shares: dict[str, float] = Field(default_factory=lambda: dict(SHARES),
                                     description="each section's share of max_chars when the text must be cut")
    timestamps: bool = Field(True, description="prefix frame descriptions and speech with [mm:ss.s]")
    max_chars: int = Field(20_000, ge=200, description="the whole text's budget, shared out by section")
    ablation: Ablation = Field(default_factory=Ablation, description="modality ablations (default: none)")


def clock(seconds: float) -> str:
    minutes, rest = divmod(round(max(seconds, 0.0), 1), 60)
    return f"{int(minutes):02d}:{rest:04.1f}"


def _without_label(text: str, label: str) -> str:
    """A record's sentence under its section heading, its own leading label dropped."""
    return text[len(label) + 1:].lstrip() if text.startswith(label + ":") else text


def _one_line(text: Any) -> str:
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
    lines = [
        (f"[{clock(s.start_s)}-{clock(s.end_s)}] " if timestamps else "") + _one_line(s.text)
        for s in record.segments
        if s.text.strip()
    ]
    if not lines:
        lines = ["(no speech recognised)"]
    if record.audio_truncated:
        lines.append("(the audio track is damaged and ends early; speech after that point is missing)")
    elif record.audio_ends_early:
        lines.append(f"(the audio ends at {clock(record.duration_s)}; nothing is heard after that)")
    return lines


def text_only(item: Item, inputs: dict[str, Any]) -> bool:
    """The item has no media file (an empty manifest ``path``; a VPD row kept with
    ``require_video: false``): extract_frames found nothing to open."""
    frames = inputs.get("extract_frames")
    return not item.video_path and isinstance(frames, FramesRecord) and frames.no_video


def section_texts(item: Item, cfg: SummarizeConfig, inputs: dict[str, Any]) -> dict[str, str]:
    """The text of every section that has content (empty sections are left out); a text-only
    item (no media file) has its title, description and metadata only."""
    texts: dict[str, str] = {"title": _one_line(item.title) or "(untitled)",
                             "description": _one_line(item.description)}
    shown = [(k, item.metadata.get(k)) for k in cfg.metadata_fields]
    texts["metadata"] = "; ".join(f"{k}: {_one_line(v)}" for k, v in shown if v not in (None, "") and v == v)
    if text_only(item, inputs):
        inputs = {}
    frames = inputs.get("extract_frames")
    no_video = isinstance(frames, FramesRecord) and frames.no_video
    visuals = inputs.get("measure_visuals")
    if isinstance(visuals, VisualsRecord) and not no_video:
        texts["visual_facts"] = _one_line(visuals.text)
    described = inputs.get("describe_frames")
    if no_video:
        texts["frames"] = "(the file has no video stream: sound only)"
    elif getattr(described, "descriptions", None):
        texts["frames"] = "\n".join(frame_lines(ablated_frames(item, described.descriptions, cfg.ablation.frames),
                                                cfg.timestamps))
    ocr = inputs.get("read_onscreen_text")
    if isinstance(ocr, OnscreenTextRecord) and ocr.texts:
        texts["onscreen_text"] = "; ".join(
            (f"[{clock(t.first_s)}] " if cfg.timestamps else "") + f'"{_one_line(t.text)}"' for t in ocr.texts
        )
    transcript = inputs.get("transcribe_audio")
    if isinstance(transcript, TranscriptRecord):
        texts["speech"] = "\n".join(transcript_lines(transcript, cfg.timestamps))
    objects = inputs.get("detect_objects")
    if isinstance(objects, ObjectsRecord) and not no_video:
        texts["objects"] = _without_label(_one_line(objects.text), "Objects detected")
    sound = inputs.get("describe_audio")
    if sound is not None and getattr(sound, "text", ""):
        texts["sound"] = _without_label(_one_line(sound.text), "Sound")
    dropped = {name for name in ("speech", "onscreen_text", "visual_facts", "objects", "sound")
               if getattr(cfg.ablation, name) == "none"}
    if cfg.ablation.frames == "none":
        dropped.add("frames")
    if cfg.ablation.metadata == "title_only":
        dropped |= {"description", "metadata"}
    return {k: v for k, v in texts.items() if v and k not in dropped}


def ablated_frames(item: Item, descriptions: list[Any], how: str) -> list[Any]:
    """The frame descriptions under the ``frames`` ablation: the same timestamps, the texts
    dealt out in a seeded random order (``shuffled``) or all blank (``blank``)."""
    if how not in ("shuffled", "blank"):
        return descriptions
    from types import SimpleNamespace

    ordered = sorted(descriptions, key=lambda d: d.timestamp_s)
    texts = [BLANK_FRAME if how == "blank" else d.text for d in ordered]
    if how == "shuffled":
        import hashlib
        import random

        random.Random(int(hashlib.sha256(item.item_id.encode()).hexdigest()[:16], 16)).shuffle(texts)
    return [SimpleNamespace(timestamp_s=d.timestamp_s, text=t) for d, t in zip(ordered, texts)]


def check_summarize(cfg: SummarizeConfig, stages: list[str]) -> None:
    """Config time: metadata fields that define the task's label are never shown."""
    if cfg.task:
        from pipelines.leakage import check_text_fields
        from pipelines.tasks import get_task

        check_text_fields(get_task(cfg.task), cfg.metadata_fields)


@stage(
    "summarize",
    # 5: says when the audio ends before the picture;
    # 4: the objects and sound sections without their records' own label ("Sound: Sound: ...")
    version=5,
    config=SummarizeConfig,
    record=SummaryRecord,
    uses=("extract_frames", "measure_visuals", "detect_objects", "describe_frames", "read_onscreen_text",
          "transcribe_audio", "describe_audio"),
    item_parts=("metadata",),
    check=lambda cfg, stages: check_summarize(cfg, stages),
)
def summarize(item: Item, cfg: SummarizeConfig, ctx: StageContext) -> SummaryRecord:
    texts = section_texts(item, cfg, ctx.upstream)
    parts = [SummarySection(name=name, heading=HEADINGS[name], text=texts[name], share=cfg.shares.get(name, 1.0))
             for name in cfg.sections if name in texts]
    text, cut = fit_sections(parts, cfg.max_chars)
    flags = []
    frames, transcript = ctx.upstream.get("extract_frames"), ctx.upstream.get("transcribe_audio")
    no_media = text_only(item, ctx.upstream)
    if no_media:
        flags.append("no_media")
    elif isinstance(frames, FramesRecord) and frames.no_video:
        flags.append("no_video")
    if isinstance(transcript, TranscriptRecord) and not no_media:
        flags += [f for f in ("no_audio", "audio_truncated", "audio_ends_early") if getattr(transcript, f)]
    return SummaryRecord(**ctx.provenance, text=text, sections=[p.name for p in parts], parts=parts, cut=cut,
                         flags=flags)
