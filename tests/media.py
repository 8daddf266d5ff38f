"""Generated test media with known truth (needs the ffmpeg program)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np


def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    assert path, "ffmpeg is needed for generated test media: apt-get install -y ffmpeg (make test does it)"
    return path


def index_gray(i: int) -> int:
    """Grey level of frame ``i`` in :func:`write_index_clip` (steps of 4: robust to rounding)."""
    return 16 + 4 * i


def write_index_clip(path: Path, fps: int = 10, n_frames: int = 50, size: tuple[int, int] = (64, 48)) -> Path:
    """A silent clip whose frame ``i`` is flat grey ``index_gray(i)``, encoded losslessly."""
    assert index_gray(n_frames - 1) <= 235
    w, h = size
    proc = subprocess.Popen(
        [ffmpeg(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{w}x{h}",
         "-r", str(fps), "-i", "-", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(path)],
        stdin=subprocess.PIPE,
    )
    assert proc.stdin is not None
    for i in range(n_frames):
        proc.stdin.write(np.full((h, w), index_gray(i), dtype=np.uint8).tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return path


def stroop_frame(word: str = "GREEN", ink: tuple[int, int, int] = (220, 20, 20)) -> np.ndarray:
    """The Stroop card: a colour word written in another colour, on white (RGB, 640x360)."""
    import cv2

    frame = np.full((360, 640, 3), 255, dtype=np.uint8)
    cv2.putText(frame, word, (60, 230), cv2.FONT_HERSHEY_DUPLEX, 4.5, ink, 12, cv2.LINE_AA)
    return frame


def write_jpeg(path: Path, rgb: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(rgb).save(path, quality=90)
    return path


def espeak() -> str:
    path = shutil.which("espeak-ng")
    assert path, "espeak-ng is needed for generated speech: apt-get install -y espeak-ng (make test does it)"
    return path


def write_speech(path: Path, text: str) -> float:
    """``text`` spoken by espeak-ng into a WAV file; returns its duration in seconds."""
    import wave

    subprocess.run([espeak(), "-v", "en-us", "-s", "150", "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-500:]


def write_clip_with_audio(path: Path, speech: Path, video_s: float, audio_s: float, audio_start_s: float = 0.0,
                          audio_codec: str = "aac") -> Path:
    """A ``video_s`` clip (moving test pattern) whose audio track is ``speech`` padded with
    silence (or cut) to exactly ``audio_s`` seconds, starting at ``audio_start_s`` on the
    file's timeline; the container's duration is the longer of the two tracks. MP4 files get
    their index (moov atom) at the front, as web uploads do."""
    flags = ["-movflags", "+faststart"] if path.suffix in (".mp4", ".m4a", ".mov") else []
    _run([ffmpeg(), "-y", "-loglevel", "error",
          "-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=25:duration={video_s}",
          "-itsoffset", str(audio_start_s), "-i", str(speech),
          "-map", "0:v", "-map", "1:a", "-af", f"apad=whole_dur={audio_s},atrim=duration={audio_s}",
          "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", audio_codec, "-ar", "22050", *flags, str(path)])
    return path


def write_audio_only(path: Path, speech: Path, cover_art: bool = False) -> Path:
    """``speech`` as AAC in an audio-only file (.m4a or .mp4); with ``cover_art``, a PNG
    attached picture as podcasts carry (a video stream that is not a video)."""
    inputs = ["-i", str(speech)]
    streams = ["-map", "0:a", "-c:a", "aac"]
    if cover_art:
        inputs += ["-f", "lavfi", "-i", "color=c=orange:size=300x300:duration=1"]
        streams += ["-map", "1:v", "-frames:v", "1", "-c:v", "png", "-disposition:v", "attached_pic"]
    _run([ffmpeg(), "-y", "-loglevel", "error", *inputs, *streams, str(path)])
    return path


def truncate_file(source: Path, path: Path, keep: float) -> Path:
    """The first ``keep`` share of ``source``'s bytes: a download or copy that stopped early."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
