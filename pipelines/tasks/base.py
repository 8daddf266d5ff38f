"""What a task is: where its gold label lives, which labels exist, how a numeric scale maps
onto them, and which prompt files its stages use (``prompts/<name>/``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.errors import ConfigError


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


TASKS: dict[str, TaskSpec] = {}


def register_task(task: TaskSpec) -> TaskSpec:
    TASKS[task.name] = task
    return task


def get_task(name: str) -> TaskSpec:
    from pipelines.tasks import popularity  # noqa: F401  (registers)

    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]
