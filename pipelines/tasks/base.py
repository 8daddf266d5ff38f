"""What a task is: where its gold label lives, which labels exist, how a numeric scale maps
onto them, which manifest fields define the label, which words merely restate it; its
prompt files live in ``prompts/<name>/``.

Tasks are registered by name in :data:`TASKS`: every module of this package is imported the
first time a task is looked up, so a new task is one new file here (and its prompts), with
no edit anywhere else; code outside the package (a test, a notebook, a plug-in) may call
:func:`register_task` itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipelines.registry import Registry, import_package_modules


@dataclass(frozen=True)
class TaskSpec:
    name: str
    label_key: str  # Item.labels[label_key] holds the gold label
    labels: tuple[str, ...]
    label_descriptions: dict[str, str]
    scale: dict[int, str] = field(default_factory=dict)  # optional finer scale -> label
    metrics: tuple[str, ...] = ("accuracy", "macro_f1")
    # manifest fields that define the label (popularity: view counts, countries): never text
    # the model may read, whatever the config says (compared case-, space- and _-insensitively)
    label_fields: tuple[str, ...] = ()
    # words that only restate what the labels are about (popularity: views, viral, trending):
    # a hypothesis or explanation made of them says nothing about the video (pipelines/hypotheses.py)
    generic_words: tuple[str, ...] = ()

    def injection_pattern(self) -> str:
        """A regex for text that tells the model which label to give ("answer local-hit"):
        any label, with ``-``, ``_`` and spaces interchangeable."""
        names = "|".join(r"[-_ ]".join(re.escape(part) for part in re.split(r"[-_ ]", label)) for label in self.labels)
        return rf"\b(answer|respond|reply|output|say)( with| only)? ['\"]?({names})\b"

    def raw_label(self, labels: dict[str, object]) -> object:
        """The item's gold label as written in its manifest (``labels[label_key]``)."""
        return labels.get(self.label_key)

    def gold(self, labels: dict[str, object]) -> str | None:
        """The item's gold label in normal form, or ``None`` (unlabelled or unknown)."""
        return self.normalise_label(self.raw_label(labels))

    def defines_label(self, field_name: str) -> bool:
        """Whether a manifest field gives the answer away: one of ``label_fields``, the label
        key itself, or any ``label``/``labels`` field."""
        norm = field_key(field_name)
        return (norm in {field_key(f) for f in self.label_fields} or norm == field_key(self.label_key)
                or norm.startswith("label"))

    def normalise_label(self, raw: object) -> str | None:
        """The label in ``labels`` that ``raw`` names (case, spaces and underscores ignored),
        or the label of a scale value; ``None`` when it names none."""
        if raw is None:
            return None
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) and int(raw) in self.scale:
            return self.scale[int(raw)]
        text = str(raw).strip().strip("\"'.").lower().replace("_", "-").replace(" ", "-")
        for label in self.labels:
            if text == label.lower():
                return label
        if text.isdigit() and int(text) in self.scale:
            return self.scale[int(text)]
        return None


def field_key(name: str) -> str:
    """A field name compared loosely: ``View Count``, ``view_count`` and ``viewcount`` agree."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


TASKS: Registry[TaskSpec] = Registry("task", discover=lambda: import_package_modules("pipelines.tasks"))


def register_task(task: TaskSpec, *, replace: bool = False) -> TaskSpec:
    """Make ``task`` known by its name (``replace``: redefine a task of that name)."""
    return TASKS.register(task.name, task, replace=replace)


def get_task(name: str) -> TaskSpec:
    """The task ``name``; unknown names are a ``ConfigError`` listing the known ones."""
    return TASKS.get(name)
