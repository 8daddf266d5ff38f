"""transcribe_audio: the video's speech as timestamped segments (Whisper family).

A video without an audio track gives an empty transcript with ``no_audio=True``: silence is
a fact about the video, not an error. An audio track shorter than the picture (music that
ends early, a voice-over on part of the clip) is valid media: the decoded audio is compared
with the audio stream's own declared duration, never the container's. Audio that ends well
before its own declared duration is a damaged file: what was decoded is kept and the record
says ``audio_truncated=True``; audio of which nothing decodes is an error. Audio that ends
before the picture (by more than ``ENDS_EARLY_BY``) is processed and flagged
``audio_ends_early``, so that an analysis can tell "no speech at the end" from "no sound there".

Recomputing gives the same transcript: decoding uses one temperature (no sampling fallback)
unless ``temperature_fallback`` is set, and every segment lies inside the audio. Segment
times are on the file's timeline (an audio stream that starts late is shifted to where it
starts), so they line up with the frames; ``duration_s`` is where the decoded audio ends on
that timeline.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from pipelines.errors import BadInputError
from pipelines.media import probe_media, video_file
from pipelines.models.asr import SPEECH_BACKENDS, load_recognizer
from pipelines.records import Item, TranscriptRecord, TranscriptSegment
from pipelines.stages.registry import StageConfig, StageContext, stage

# decoded audio shorter than this share of the audio stream's declared duration (less 0.5 s) means a damaged file
TRUNCATED_BELOW = 0.9
# the audio ends this much before the picture (seconds, or this share of the picture) to be flagged
ENDS_EARLY_BY = (0.5, 0.05)


class TranscribeAudioConfig(StageConfig):
    backend: str = Field("faster-whisper", description="a registered speech backend (pipelines/models/asr.py)")
    model: str = Field("bundled:whisper-tiny.en", description="bundled:<name>, a local model directory or an id")
    language: str | None = Field("en", description="ISO code, or null to detect")
    compute_type: str = Field("int8", description="CTranslate2 compute type: int8, float32, float16 ...")
    device: str = "cpu"
    beam_size: int = Field(5, ge=1)
    cpu_threads: int = Field(0, ge=0, description="0 = the backend's default")
    temperature_fallback: bool = Field(
        False, description="re-decode failed windows by sampling at higher temperatures (can rescue hard audio, "
                           "but the transcript then differs from run to run)",
    )

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        return SPEECH_BACKENDS.check(value)


@stage(
    "transcribe_audio",
    version=4,  # 4: audio_ends_early; 3: features computed on one BLAS thread (the same transcript on any machine)
    config=TranscribeAudioConfig,
    record=TranscriptRecord,
    item_parts=("video",),
)
def transcribe_audio(item: Item, cfg: TranscribeAudioConfig, ctx: StageContext) -> TranscriptRecord:
    if not item.video_path:  # a text-only item: nothing to hear
        return TranscriptRecord(**ctx.provenance, language=cfg.language, no_audio=True)
    path = video_file(item)
    probe = probe_media(path)
    if not probe.has_audio:
        return TranscriptRecord(**ctx.provenance, language=cfg.language, no_audio=True)
    recognizer = ctx.models.get(
        f"asr:{cfg.backend}:{cfg.model}:{cfg.device}:{cfg.compute_type}",
        lambda: load_recognizer(
            cfg.backend, cfg.model, device=cfg.device, compute_type=cfg.compute_type, cpu_threads=cfg.cpu_threads
        ),
    )
    result = recognizer.transcribe(
        path, language=cfg.language, beam_size=cfg.beam_size, temperature_fallback=cfg.temperature_fallback
    )
    declared = probe.audio_duration_s
    if declared and not result.duration_s:
        raise BadInputError(
            f"audio of {item.video} cannot be decoded: its stream declares {declared:.1f} s but nothing decodes "
            "(truncated or corrupt file)"
        )
    truncated = bool(declared) and result.duration_s < TRUNCATED_BELOW * declared - 0.5
    shift = probe.audio_start_s
    audio_end = shift + (result.duration_s if truncated or not declared else declared)
    picture = probe.duration_s if probe.has_video else None
    ends_early = not truncated and bool(picture) and picture - audio_end > max(ENDS_EARLY_BY[0], ENDS_EARLY_BY[1] * picture)
    return TranscriptRecord(
        **ctx.provenance,
        language=result.language,
        language_probability=result.language_probability,
        duration_s=round(shift + result.duration_s, 3),
        segments=[
            TranscriptSegment(**{**vars(s), "start_s": round(s.start_s + shift, 3), "end_s": round(s.end_s + shift, 3)})
            for s in result.segments
        ],
        audio_duration_s=round(declared, 3) if declared else None,
        audio_truncated=truncated,
        audio_ends_early=ends_early,
    )
