"""Speech recognition backends. All return :class:`Transcription` (the same segments), so
the ``transcribe_audio`` record does not depend on the backend.

Implemented: ``faster-whisper`` (CTranslate2; the default, with the bundled Whisper tiny.en).
Adding ``openai-whisper`` or transformers Whisper means one more class with ``transcribe``,
registered in :data:`SPEECH_BACKENDS` (the ``transcribe_audio`` config accepts every
registered name; nothing else to edit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pipelines.errors import ConfigError
from pipelines.models.bundled import resolve_model
from pipelines.registry import Registry


@dataclass
class Segment:
    start_s: float
    end_s: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None


@dataclass
class Transcription:
    language: str | None
    language_probability: float | None
    duration_s: float
    segments: list[Segment] = field(default_factory=list)


class SpeechRecognizer(Protocol):
    def transcribe(
        self, audio_path: Path, *, language: str | None, beam_size: int, temperature_fallback: bool = False
    ) -> Transcription: ...


# faster-whisper's (and openai-whisper's) schedule: a window whose greedy/beam decoding looks
# like a failure (repetitive or improbable text) is decoded again by sampling at these
# temperatures; sampling makes the transcript differ from run to run
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def clamp_segments(segments: list[Segment], duration_s: float) -> list[Segment]:
    """Segments with start and end inside ``[0, duration_s]`` and ``end >= start``.

    Whisper times segments by predicting timestamp tokens over a 30 s window that is padded
    with silence, so the last segment of a short clip can end (or a hallucinated one start)
    after the audio does; no speech can lie outside the decoded audio.
    """
    out = []
    for s in segments:
        start = round(min(max(s.start_s, 0.0), duration_s), 3)
        end = round(min(max(s.end_s, start), duration_s), 3)
        out.append(Segment(start, end, s.text, s.avg_logprob, s.no_speech_prob))
    return out


class FasterWhisper:
    """faster-whisper on a CTranslate2 model directory (or an id already in the local HF cache)."""

    def __init__(self, model: str, *, device: str = "cpu", compute_type: str = "int8", cpu_threads: int = 0) -> None:
        from faster_whisper import WhisperModel

        path = resolve_model(model)
        try:
            self.model = WhisperModel(
                path, device=device, compute_type=compute_type, cpu_threads=cpu_threads, local_files_only=True
            )
        except Exception as exc:
            raise ConfigError(
                f"cannot load faster-whisper model {model!r} ({exc}); give a local CTranslate2 model "
                "directory or 'bundled:whisper-tiny.en'"
            ) from None

    def transcribe(
        self, audio_path: Path, *, language: str | None, beam_size: int, temperature_fallback: bool = False
    ) -> Transcription:
        """Decode and transcribe the file's first audio stream.

        Deterministic by default: one temperature (0, beam search only) instead of the
        sampling fallback, and no conditioning on the previous window's text (with it, one
        window's repetition loop is fed into the next). ``temperature_fallback=True`` restores
        faster-whisper's sampling fallback, which can rescue hard audio but gives a
        different transcript on each run. numpy's BLAS runs on one thread meanwhile: the
        log-mel features are matrix products whose sums, split over threads, come out in the
        last bits differently on a machine (or a Ray worker) with another thread count, and
        so, sometimes, does the transcript.
        """
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            segments, info = self.model.transcribe(
                str(audio_path), language=language, beam_size=beam_size,
                temperature=list(FALLBACK_TEMPERATURES) if temperature_fallback else 0.0,
                condition_on_previous_text=False,
            )
            out = [
                Segment(
                    start_s=round(s.start, 3),
                    end_s=round(s.end, 3),
                    text=s.text.strip(),
                    avg_logprob=round(s.avg_logprob, 4),
                    no_speech_prob=round(s.no_speech_prob, 4),
                )
                for s in segments  # a generator: decoding happens here
            ]
        duration = round(info.duration, 3)
        probability = round(info.language_probability, 4)
        return Transcription(info.language, probability, duration, clamp_segments(out, duration))


# name -> a class built as cls(model, device=, compute_type=, cpu_threads=) with ``transcribe``
SPEECH_BACKENDS: Registry[type] = Registry("speech backend")
SPEECH_BACKENDS.register("faster-whisper", FasterWhisper)


def load_recognizer(backend: str, model: str, *, device: str, compute_type: str, cpu_threads: int) -> SpeechRecognizer:
    return SPEECH_BACKENDS.get(backend)(model, device=device, compute_type=compute_type, cpu_threads=cpu_threads)
