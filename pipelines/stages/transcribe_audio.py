"""transcribe_audio: the video's speech as timestamped segments (Whisper family).

A video without an audio track gives an empty transcript with ``no_audio=True``: silence is
a fact about the video, not an error.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pipelines.errors import BadInputError
from pipelines.media import probe_media, video_file
from pipelines.models.asr import load_recognizer
from pipelines.records import Item, TranscriptRecord, TranscriptSegment
from pipelines.stages.registry import StageConfig, StageContext, stage


# decoded audio shorter than this share of the declared duration means a damaged file
TRUNCATED_BELOW = 0.9


class TranscribeAudioConfig(StageConfig):
    backend: Literal["faster-whisper"] = "faster-whisper"
    model: str = Field("bundled:whisper-tiny.en", description="bundled:<name>, a local model directory or an id")
    language: str | None = Field("en", description="ISO code, or null to detect")
    compute_type: str = Field("int8", description="CTranslate2 compute type: int8, float32, float16 ...")
    device: str = "cpu"
    beam_size: int = Field(5, ge=1)
    cpu_threads: int = Field(0, ge=0, description="0 = the backend's default")


@stage(
    "transcribe_audio",
    version=1,
    config=TranscribeAudioConfig,
    record=TranscriptRecord,
    reads=("video",),
)
def transcribe_audio(item: Item, cfg: TranscribeAudioConfig, ctx: StageContext) -> TranscriptRecord:
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
    result = recognizer.transcribe(path, language=cfg.language, beam_size=cfg.beam_size)
    if probe.duration_s and result.duration_s < TRUNCATED_BELOW * probe.duration_s - 0.5:
        raise BadInputError(
            f"audio of {item.video} ends at {result.duration_s:.1f} s but the file declares "
            f"{probe.duration_s:.1f} s: truncated or corrupt file"
        )
    return TranscriptRecord(
        **ctx.provenance,
        language=result.language,
        language_probability=result.language_probability,
        duration_s=result.duration_s,
        segments=[TranscriptSegment(**vars(s)) for s in result.segments],
    )
