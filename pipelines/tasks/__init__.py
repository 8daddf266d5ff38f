"""Tasks: the labels, label scales and prompt files of each kind of case study."""

from pipelines.tasks.base import TASKS, TaskSpec, get_task

__all__ = ["TASKS", "TaskSpec", "get_task"]
