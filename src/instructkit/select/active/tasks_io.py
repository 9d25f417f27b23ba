"""Tasks as Active-IT and replay see them: the old import path of :mod:`instructkit.tasks`.

``load_tasks`` here is :func:`instructkit.tasks.load_tasks` with its default reading (Dynosaur runs,
Super-NI task files, example files grouped by ``task_field``); ``TaskBundle`` builds a
:class:`~instructkit.records.Task` with its instances the old way. Both stay for callers and
benchmarks that import them from here.

>>> tasks = load_tasks(["examples/active"])          # doctest: +SKIP
>>> tasks[0].kind, len(tasks[0].instances)           # doctest: +SKIP
('classification', 8)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from instructkit.records import Example, Task
from instructkit.tasks import infer_label_space, read_json_file, task_with_instances
from instructkit.tasks import load_tasks as _load_tasks

__all__ = ["TaskBundle", "infer_label_space", "load_tasks", "read_json_file"]


def TaskBundle(id: str, definition: str, instances: list[Example],  # noqa: N802 - old type name
               demonstrations: list[dict[str, str]] | None = None, label_space: list[str] | None = None,
               source: str = "", meta: dict[str, Any] | None = None,
               dynosaur: dict[str, Any] | None = None) -> Task:
    """One task with its instances, built the old way; it is a :class:`~instructkit.records.Task`.

    ``definition`` and ``demonstrations`` make up the instruction I₀; ``kind`` follows the label space.
    """
    return task_with_instances(id, definition, instances, demonstrations=demonstrations, label_space=label_space,
                               origin=source, meta=meta, source=dynosaur)


def load_tasks(paths: Sequence[str | Path], task_field: str = "task_id",
               min_instances: int = 1, bad_rows: list | None = None) -> list[Task]:
    """Every task in ``paths``: :func:`instructkit.tasks.load_tasks`, default reading."""
    return _load_tasks(paths, task_field=task_field, min_instances=min_instances, bad_rows=bad_rows)
