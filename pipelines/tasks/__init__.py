"""Tasks: the labels, label scales and prompt folders of each kind of case study (one file each)."""

from pipelines.tasks.base import TASKS, TaskSpec, get_task, register_task

__all__ = ["TASKS", "TaskSpec", "get_task", "register_task"]
