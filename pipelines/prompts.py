"""Prompt files: ``prompts/<task>/<name>.md`` with YAML front matter and a Jinja2 body.

Front matter keys: ``id``, ``version`` (int), ``inputs`` (variables the body uses),
``output_schema`` (name of the pydantic model the answer must match, or null) and a one-line
``changelog``. Bodies render with ``StrictUndefined``: a missing variable is an error.
``prompts/LOCK.json`` maps ``id@version`` to the sha256 of the body; ``check_lock`` reports
a body that changed without a version bump (``m2t prompts lock`` rewrites the file after a
deliberate change).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from pipelines.errors import ConfigError

REQUIRED = ("id", "version", "inputs", "output_schema", "changelog")
ROLES = ("system", "user", "assistant")
FENCE_OPEN = "<untrusted"
FENCE_CLOSE = "</untrusted>"
# phrases that try to steer a model from inside data; matched case-insensitively
INJECTION_PATTERNS = [
    r"ignore (all |any |the )?(previous|prior|above|earlier) (instructions|prompts?|messages?)",
    r"disregard (all |any |the )?(previous|prior|above|earlier)",
    r"\byou are now\b",
    r"\bsystem prompt\b",
    r"\bnew instructions?\b",
    r"</?untrusted",
]


def fence(text: object, kind: str = "data") -> str:
    """Wrap untrusted text (titles, transcripts, OCR, captions) in a delimited block.

    Prompts tell the model that such blocks are data, never instructions; any fence marker
    inside the text is defused so the block cannot be closed from within.
    """
    body = str(text).replace(FENCE_OPEN, "<untrusted\u200b").replace(FENCE_CLOSE, "</untrusted\u200b>")
    return f'<untrusted kind="{kind}">\n{body}\n{FENCE_CLOSE}'


def injection_signals(text: str, extra_patterns: Sequence[str] = ()) -> list[str]:
    """The injection-like phrases found in ``text`` (empty when none); ``extra_patterns`` are
    the task's own (``TaskSpec.injection_pattern``: "answer <a label>")."""
    import re

    found = []
    for pattern in [*INJECTION_PATTERNS, *extra_patterns]:
        match = re.search(pattern, text, flags=re.IGNORECASE)
        if match:
            found.append(match.group(0))
    return found


def prompts_dir() -> Path:
    """``$M2T_PROMPTS_DIR`` or the project's ``prompts/`` folder."""
    return Path(os.environ.get("M2T_PROMPTS_DIR") or Path(__file__).resolve().parents[1] / "prompts")


# A study's own prompt folder (the config's ``prompts_dir``), searched before the bundled one.
_STUDY_DIR: Path | None = None


def use_study_prompts(folder: str | Path | None) -> None:
    """Search ``folder`` (same layout and front matter, with its own ``LOCK.json``) before the
    bundled prompts; ``None`` searches the bundled ones only. Refuses a folder whose files do
    not match its lock, so a study's prompt cannot change without a version bump either."""
    global _STUDY_DIR
    if folder is None:
        _STUDY_DIR = None
        return
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ConfigError(f"prompts_dir {folder}: no such folder")
    problems = check_lock(path)
    if problems:
        raise ConfigError(f"prompts_dir {folder}: {problems[0]} (m2t prompts lock --dir {folder})")
    _STUDY_DIR = path


@dataclass(frozen=True)
class Prompt:
    id: str
    version: int
    inputs: tuple[str, ...]
    output_schema: str | None
    changelog: str
    body: str
    path: Path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()

    @property
    def ref(self) -> dict[str, Any]:
        """What a record and a run manifest keep about the prompt."""
        return {"id": self.id, "version": self.version, "sha256": self.sha256}

    def render(self, **values: Any) -> str:
        """The body rendered with ``values`` (Jinja2, strict: a missing variable is an error).
        The filter ``untrusted`` fences a value: ``{{ title | untrusted("title") }}``."""
        from jinja2 import Environment, StrictUndefined, UndefinedError

        missing = [name for name in self.inputs if name not in values]
        if missing:
            raise ConfigError(f"prompt {self.id} needs {', '.join(missing)}")
        env = Environment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)
        env.filters["untrusted"] = fence
        try:
            return env.from_string(self.body).render(**values).strip()
        except UndefinedError as exc:
            raise ConfigError(f"prompt {self.id}: {exc.message}") from None

    def messages(self, **values: Any) -> list[tuple[str, str]]:
        """The rendered body as chat messages: sections start with a line ``[system]``,
        ``[user]`` or ``[assistant]``; a body without sections is one user message."""
        import re

        text = self.render(**values)
        parts = re.split(r"^\[(system|user|assistant)\]\s*$", text, flags=re.MULTILINE)
        if len(parts) == 1:
            return [("user", text)]
        if parts[0].strip():
            raise ConfigError(f"prompt {self.id}: text before the first [role] line")
        return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts), 2)]


def parse_prompt(path: Path) -> Prompt:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        raise ConfigError(f"prompt file {path} must start with '---' YAML front matter closed by '---'")
    head, body = text[4:].split("\n---\n", 1)
    meta = yaml.safe_load(head) or {}
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ConfigError(f"prompt file {path} lacks front matter keys: {', '.join(missing)}")
    return Prompt(
        id=str(meta["id"]),
        version=int(meta["version"]),
        inputs=tuple(meta["inputs"] or ()),
        output_schema=meta["output_schema"],
        changelog=str(meta["changelog"]),
        body=body.strip() + "\n",
        path=path,
    )


@lru_cache(maxsize=64)
def _load(path: str, mtime_ns: int) -> Prompt:
    return parse_prompt(Path(path))


def prompt_exists(name: str) -> bool:
    """Whether ``<folder>/<name>`` is a prompt file of the study's folder or the bundled one."""
    return any((folder / f"{name}.md").is_file() for folder in (_STUDY_DIR, prompts_dir()) if folder is not None)


def task_prompt(task: str, name: str) -> str:
    """``<task>/<name>`` when the task has that prompt, else the shared ``common/<name>``: a
    task brings the prompts it asks with, and borrows the generic repair requests."""
    own = f"{task}/{name}"
    return own if prompt_exists(own) or not prompt_exists(f"common/{name}") else f"common/{name}"


def load_prompt(name: str) -> Prompt:
    """Load ``<task>/<name>`` (e.g. ``describe_frames/neutral``): from the study's prompt
    folder when it has that file (:func:`use_study_prompts`), else from the bundled one."""
    folders = [f for f in (_STUDY_DIR, prompts_dir()) if f is not None]
    for folder in folders:
        path = folder / f"{name}.md"
        if path.is_file():
            return _load(str(path), path.stat().st_mtime_ns)
    known = sorted({p.relative_to(f).with_suffix("").as_posix() for f in folders for p in f.rglob("*.md")
                    if p.name != "README.md"})
    raise ConfigError(f"no prompt {name!r} in {' or '.join(map(str, folders))}; available: {', '.join(known) or 'none'}")


def all_prompts(folder: Path | None = None) -> list[Prompt]:
    folder = folder or prompts_dir()
    return [parse_prompt(p) for p in sorted(folder.rglob("*.md")) if p.name != "README.md"]


def lock_entries(folder: Path | None = None) -> dict[str, str]:
    return {f"{p.id}@{p.version}": p.sha256 for p in all_prompts(folder)}


def check_lock(folder: Path | None = None) -> list[str]:
    """Problems between a prompt folder's files (default: the bundled one) and its
    ``LOCK.json`` (empty when all is well)."""
    folder = folder or prompts_dir()
    path = folder / "LOCK.json"
    locked = json.loads(path.read_text()) if path.is_file() else {}
    problems = []
    ids = [p.id for p in all_prompts(folder)]
    problems += [f"prompt id {i!r} is used by more than one file" for i in sorted({i for i in ids if ids.count(i) > 1})]
    for key, sha in lock_entries(folder).items():
        if key not in locked:
            problems.append(f"{key} is not in LOCK.json (run `m2t prompts lock` after reviewing it)")
        elif locked[key] != sha:
            problems.append(f"{key} changed without a version bump: raise its version, then `m2t prompts lock`")
    return problems


def write_lock(folder: Path | None = None) -> Path:
    """Record the current bodies in ``LOCK.json``, keeping entries of older versions."""
    path = (folder or prompts_dir()) / "LOCK.json"
    locked = json.loads(path.read_text()) if path.is_file() else {}
    current = lock_entries(folder)
    changed = [k for k in current if k in locked and locked[k] != current[k]]
    if changed:
        raise ConfigError(f"{', '.join(changed)} changed without a version bump; raise the version first")
    locked.update(current)
    path.write_text(json.dumps(dict(sorted(locked.items())), indent=2) + "\n", encoding="utf-8")
    return path
