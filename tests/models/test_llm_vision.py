"""Frames to an OpenAI-compatible vision endpoint: images in messages, their limits, and the
``openai`` backend of ``describe_frames`` and of the film ``vlm`` student.

The real server is ``transformers serve`` with a tiny, randomly initialised LLaVA built here
(CLIP vision tower + Llama; ``tests/tiny_models.py``): its words mean nothing, but every
step is the real one — frames read from extract_frames' JPEGs, sent as data URLs, turned
into image tokens by the server's processor (the prompt grows by the image's tokens), the
answer cached under the image's sha256, usage summed per stage in ``stats.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from pipelines.errors import ConfigError
from pipelines.models.llm import CachedLLM, LLMConfig, image_part
from tests.servers import ServerFailed, transformers_server
from tests.tiny_models import build_tiny_llava


@pytest.fixture(scope="module")
def vlm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("tiny-llava")
    model = build_tiny_llava(folder / "model")
    try:
        with transformers_server(model, folder / "server.log") as running:
            yield running
    except ServerFailed as exc:
        pytest.fail(str(exc))


def _jpeg(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", size, colour).save(path, "JPEG", quality=95)
    return path


def _vision_llm(server: dict[str, str], **overrides: object) -> dict[str, object]:
    return {"backend": "openai", "model": server["model"], "base_url": server["base_url"], "max_tokens": 6,
            **overrides}


def _entries(cache_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((cache_dir / "llm").rglob("*.json"))]


def test_an_image_reaches_the_model_and_is_keyed_by_its_bytes(vlm_server, tmp_path: Path) -> None:
    red = _jpeg(tmp_path / "red.jpg", (96, 64), (200, 30, 30))
    llm = CachedLLM(LLMConfig(**_vision_llm(vlm_server)), tmp_path / "cache")
    with_image = [("user", [{"type": "text", "text": "Describe the frame."}, image_part(red)])]
    text_only = [("user", [{"type": "text", "text": "Describe the frame."}])]

    answer = llm.complete(with_image)
    llm.complete(text_only)
    assert isinstance(answer, str) and answer.strip()
    image_entry, text_entry = sorted(_entries(tmp_path / "cache"), key=lambda e: -e["usage"]["prompt_tokens"])
    # the server's processor turned the image into tokens: the prompt with it is longer
    assert image_entry["usage"]["prompt_tokens"] > text_entry["usage"]["prompt_tokens"] > 0
    keyed = image_entry["messages"][0][1][1]
    from pipelines.files import sha256_file

    assert keyed == {"type": "image", "sha256": sha256_file(red), "max_side": None}
    assert "base64" not in json.dumps(image_entry) and str(red) not in json.dumps(image_entry)

    # the same bytes under another path: a cache hit; other bytes: a new request
    moved = tmp_path / "elsewhere.jpg"
    moved.write_bytes(red.read_bytes())
    calls = llm.calls
    assert llm.complete([("user", [{"type": "text", "text": "Describe the frame."}, image_part(moved)])]) == answer
    assert llm.calls == calls
    blue = _jpeg(tmp_path / "blue.jpg", (96, 64), (20, 30, 220))
    llm.complete([("user", [{"type": "text", "text": "Describe the frame."}, image_part(blue)])])
    assert llm.calls == calls + 1


def test_image_limits_are_config_errors_before_any_request(tmp_path: Path) -> None:
    frames = [_jpeg(tmp_path / f"f{i}.jpg", (64, 64), (i * 40, 0, 0)) for i in range(3)]
    # nothing listens there: a request would be an LLMError, not the ConfigError expected
    llm = CachedLLM(LLMConfig(backend="openai", model="vlm", base_url="http://127.0.0.1:9/v1", max_images=2,
                              max_retries=0), tmp_path / "cache")
    message = [("user", [{"type": "text", "text": "Describe."}, *(image_part(f) for f in frames)])]
    with pytest.raises(ConfigError, match="max_images = 2"):
        llm.complete(message)
    local = CachedLLM(LLMConfig(backend="local", model="bundled:smollm2-135m-instruct"), tmp_path / "cache")
    with pytest.raises(ConfigError, match="cannot take images"):
        local.complete(message[:1])
    assert llm.calls == local.calls == 0


def test_a_large_frame_is_downscaled_to_the_models_side(tmp_path: Path) -> None:
    from pipelines.models.llm import _image_bytes, _keyed_content

    big = _jpeg(tmp_path / "big.jpg", (1280, 720), (10, 200, 10))
    data, mime = _image_bytes({"path": str(big), "max_side": 320})
    from io import BytesIO

    with Image.open(BytesIO(data)) as sent:
        assert max(sent.size) == 320 and mime == "image/jpeg"
    assert _image_bytes({"path": str(big), "max_side": None})[0] == big.read_bytes()  # fits: sent as it is
    llm = CachedLLM(LLMConfig(backend="openai", model="vlm", base_url="http://127.0.0.1:9/v1", max_image_side=256),
                    tmp_path / "cache")
    capped = llm._checked_images([("user", [image_part(big, 512)])])
    assert _keyed_content(capped[0][1])[0]["max_side"] == 256  # the stricter of the stage's and the model's


def test_describe_frames_and_the_vlm_student_through_a_vision_endpoint(vlm_server, tmp_path: Path) -> None:
    from pipelines.config import load_config
    from pipelines.datasets.synthetic_film import FilmShot, FilmSpec, Sound, generate_film_samples
    from pipelines.runner import Runner

    specs = [FilmSpec("harbour", "Harbour", 1999, ["documentary"], 2_000_000, "A harbour at dusk.",
                      [FilmShot("face:astronaut:close-up", scale="close-up"), FilmShot("photo:china", "pan right")],
                      [Sound("speech", 0.2, 3.5, "The boats come home at dusk.")])]
    manifest = generate_film_samples(tmp_path / "data", specs=specs, include_bunny=False)
    vision = _vision_llm(vlm_server, max_tokens=12, max_images=4, max_image_side=224)
    config = tmp_path / "film.yaml"
    config.write_text(json.dumps({
        "name": "film-vision", "task": "film", "dataset": {"path": str(manifest)},
        "stages": {"extract_frames": {"num_frames": 3}, "measure_visuals": {},
                   "describe_frames": {"backend": "openai", "prompt": "describe_frames/film", "llm": vision},
                   "summarize": {},
                   "analyse_film": {"students": ["vlm"],
                                    "vlm": {"backend": "openai", "max_frames": 3, "llm": {**vision, "max_tokens": 40}}}},
    }), encoding="utf-8")
    result = Runner(load_config(config), runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache",
                    show_progress=False).run()
    assert result.exit_code == 0, result.summary_line()

    described = result.records["describe_frames"]["harbour"]
    assert described.backend == "openai" and described.prompt_id and len(described.descriptions) == 3
    assert all(d.text for d in described.descriptions)
    exam = result.records["analyse_film"]["harbour"]
    (answer,) = exam.answers
    assert answer.student == "vlm" and answer.model == vlm_server["model"] and answer.raw
    stats = json.loads((result.run_dir / "stats.json").read_text())
    usage = {stage: rows[0] for stage, rows in stats["llm_usage"].items()}
    assert usage["describe_frames"]["requests"] == 3 and usage["describe_frames"]["prompt_tokens"] > 0
    assert usage["analyse_film"]["requests"] == 1
    # the exam's one request carried the three frames (the same JPEGs describe_frames sent)
    exam_entry = next(e for e in _entries(tmp_path / "cache") if len(e["messages"][0][1]) == 4)
    assert [p["max_side"] for p in exam_entry["messages"][0][1][1:]] == [224, 224, 224]

    again = Runner(load_config(config), runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache",
                   show_progress=False).run()
    assert again.exit_code == 0 and sum(s.computed for s in again.stages.values()) == 0


def test_vlm_student_asking_for_more_frames_than_the_model_takes_is_a_config_error() -> None:
    from pipelines.stages.analyse_film import VLMStudentConfig

    with pytest.raises(ValueError, match="max_frames 8 is more than the model takes"):
        VLMStudentConfig(backend="openai", max_frames=8,
                         llm=LLMConfig(backend="openai", model="vlm", base_url="http://127.0.0.1:9/v1", max_images=4))
    with pytest.raises(ValueError, match="needs vlm.llm"):
        VLMStudentConfig(backend="openai")
