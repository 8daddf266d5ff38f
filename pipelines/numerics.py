"""The numerics environment: what decides the floating-point results of a run on a machine.

Two machines can compute different last bits for the same record: the CPU's vector and matrix
instructions (AVX2, AVX-512, AMX) choose different kernels, libraries sum in other orders from
one version to the next, and thread counts split reductions differently. None of it changes a
cache key (the key says *what* was computed), so the run manifest records it beside the key's
inputs, and ``m2t compare`` warns when two runs' environments differ: a difference between
their records can then be explained rather than guessed at.

Reading it costs no import of a model library: versions come from package metadata; torch's
own view (its BLAS, the kernels it dispatches to, its threads) is added only when the run
already imported torch (:func:`numerics_environment` is called again when a run finishes).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any

# CPU flags (as /proc/cpuinfo names them) that change which kernels the libraries run
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
             "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve")
# distributions whose kernels compute m2t's numbers
LIBRARIES = ("torch", "numpy", "onnxruntime", "ctranslate2", "faiss-cpu", "opencv-python-headless", "transformers",
             "sentence-transformers", "llama-cpp-python", "onnxruntime-genai")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "ORT_NUM_THREADS")
# what must be equal for two runs' numbers to be comparable bit for bit
COMPARED = ("machine", "isa", "libraries", "threads", "torch")


def _cpu() -> tuple[str, list[str]]:
    """The CPU's model name and the flags of ``ISA_FLAGS`` it has (Linux; elsewhere unknown)."""
    name, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name in ("unknown", platform.machine()):
                    name = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
                if name not in ("unknown", platform.machine()) and flags:
                    break
    except OSError:
        pass
    return name, [f for f in ISA_FLAGS if f in flags]


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` for the block, restored after. A model whose floats
    depend on how its matrix products are split across threads (MiniLM's vectors differ in the
    last bits between 1 and 2 threads on an AVX-512/AMX Xeon) then gives the same bits in this
    process and in a Ray actor limited to one thread."""
    import torch

    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if before != n:
            torch.set_num_threads(before)


def installed_versions(names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """The installed version of each distribution of ``names`` (those not installed left out)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _numpy_blas() -> str | None:
    if "numpy" not in sys.modules:
        return None
    try:
        config = sys.modules["numpy"].show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}".strip()
    except Exception:  # an unusual numpy build: the versions above still say which numpy
        return None


def _torch() -> dict[str, Any] | None:
    """torch's own view, only when torch is already imported (importing it costs seconds)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    lines = [line.strip(" -") for line in torch.__config__.show().splitlines()]
    settings = dict(part.strip().split("=", 1) for line in lines if line.startswith("Build settings:")
                    for part in line.split(":", 1)[1].split(", ") if "=" in part)
    libraries = [line.split(" (Git Hash", 1)[0] for line in lines
                 if any(word in line for word in ("Math Kernel Library", "MKL-DNN", "oneDNN", "OpenBLAS"))]
    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "blas": settings.get("BLAS_INFO"),
            "kernels": libraries, "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads()}


def numerics_environment() -> dict[str, Any]:
    """The numerics environment of this process (module docstring), as JSON-ready values."""
    name, isa = _cpu()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 0
    return {
        "machine": platform.machine(),
        "cpu": name,
        "isa": isa,
        "cores": cores,
        "threads": {v: os.environ[v] for v in THREAD_VARIABLES if v in os.environ},
        "libraries": installed_versions(LIBRARIES),
        "numpy_blas": _numpy_blas(),
        "torch": _torch(),
    }


def differences(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[str]:
    """What differs between two runs' numerics environments, one short phrase each (``[]``
    when equal, or when either run predates the record: then nothing is known)."""
    if not a or not b:
        return []
    out = []
    for key in COMPARED:
        x, y = a.get(key), b.get(key)
        if key == "torch" and (x is None or y is None):
            continue  # one run never imported torch: nothing computed by it to compare
        if isinstance(x, dict) and isinstance(y, dict):
            out += [f"{key}.{k}: {x.get(k)} vs {y.get(k)}" for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)]
        elif x != y:
            if isinstance(x, list) and isinstance(y, list):
                only_a, only_b = sorted(set(x) - set(y)), sorted(set(y) - set(x))
                out.append(f"{key}: {'+' + ' +'.join(only_a) if only_a else ''}"
                           f"{' vs ' if only_a or only_b else ''}{'+' + ' +'.join(only_b) if only_b else ''}".strip())
            else:
                out.append(f"{key}: {x} vs {y}")
    return out
