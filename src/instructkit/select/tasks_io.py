"""Tasks as Active-IT and replay see them: an instruction (definition + demonstrations) plus instances.

Three inputs are understood, each as a file or a folder:

* a **Dynosaur run** (a folder holding ``tasks.jsonl`` + ``instances.jsonl``, or the ``tasks.jsonl``
  file itself): :class:`~instructkit.records.Task` records, instances grouped by ``meta["task_id"]``;
* **Super-NaturalInstructions task files** (``Definition``, ``Positive Examples``, ``Instances``),
  one file or a folder of them;
* **any example file** ``io.load_examples`` reads (JSONL, JSON, CSV, Parquet ...) with a task id column
  (``task_field``, in the row or its ``meta``); the instruction is taken from the rows.

A task is *classification* when it has a label space: given explicitly (Dynosaur ``label_space``, a
``label_space`` meta/column, or a ``Label Space`` key in a SuperNI file) or, failing that, inferred by
:func:`infer_label_space` (at least 4 instances, at most 10 distinct outputs of at most 3 words each,
and at most half as many distinct outputs as instances).

>>> tasks = load_tasks(["examples/active"])          # doctest: +SKIP
>>> tasks[0].kind, len(tasks[0].instances)           # doctest: +SKIP
('classification', 8)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from instructkit.errors import UserError
from instructkit.records import Example, Task
from instructkit.runs import manifest_output, read_jsonl
from instructkit.tasks import infer_label_space, kind_of

__all__ = ["TaskBundle", "infer_label_space", "load_tasks", "read_json_file"]


def TaskBundle(id: str, definition: str, instances: list[Example],  # noqa: N802 - old type name
               demonstrations: list[dict[str, str]] | None = None, label_space: list[str] | None = None,
               source: str = "", meta: dict[str, Any] | None = None,
               dynosaur: dict[str, Any] | None = None) -> Task:
    """One task with its instances, built the old way; it is a :class:`~instructkit.records.Task`.

    ``definition`` and ``demonstrations`` make up the instruction I₀; ``kind`` follows the label space.
    """
    return Task(instruction=definition, label_space=label_space, kind=kind_of(label_space),
                source=dict(dynosaur or {}), demonstrations=list(demonstrations or []),
                meta=dict(meta or {}), id=id, instances=list(instances), origin=source)


def _as_label_space(value: Any) -> list[str] | None:
    if isinstance(value, list) and value:
        return [str(v) for v in value]
    return None


# -- Super-NaturalInstructions ---------------------------------------------------------------
def _is_superni(obj: Any) -> bool:
    return isinstance(obj, dict) and "Definition" in obj and "Instances" in obj


def _superni_task(obj: dict[str, Any], path: Path) -> Task:
    defn = obj.get("Definition")
    definition = " ".join(str(d) for d in defn) if isinstance(defn, list) else str(defn or "")
    if not definition.strip():
        raise UserError(f"{path}: 'Definition' is empty; every task needs an instruction")
    demos = []
    for j, d in enumerate(obj.get("Positive Examples") or []):
        if not isinstance(d, dict) or "input" not in d:
            raise UserError(f"{path}: 'Positive Examples'[{j}] needs an 'input' (and 'output')")
        demos.append({"input": str(d.get("input") or ""), "output": str(d.get("output") or "")})
    task_id = path.stem
    instances: list[Example] = []
    insts = obj.get("Instances")
    if not isinstance(insts, list):
        raise UserError(f"{path}: 'Instances' must be a list of {{id, input, output}}")
    for j, inst in enumerate(insts):
        if not isinstance(inst, dict) or "input" not in inst or "output" not in inst:
            raise UserError(f"{path}: 'Instances'[{j}] needs 'input' and 'output'")
        refs = inst["output"] if isinstance(inst["output"], list) else [inst["output"]]
        refs = [str(r) for r in refs]
        if not refs:
            continue
        meta = {"task_id": task_id, "references": refs, "source": str(path), "method": "superni"}
        if inst.get("id") is not None:
            meta["instance_id"] = str(inst["id"])
        instances.append(Example(instruction=definition, input=str(inst["input"]), output=refs[0], meta=meta))
    labels = _as_label_space(obj.get("Label Space")) or infer_label_space([e.output for e in instances])
    meta = {k: obj[k] for k in ("Categories", "Domains", "Source", "Input_language", "Output_language")
            if k in obj}
    return TaskBundle(id=task_id, definition=definition, instances=instances, demonstrations=demos,
                      label_space=labels, source=str(path), meta=meta)


# -- Dynosaur run ----------------------------------------------------------------------------
def _checked_examples(path: Path, bad_rows: list | None) -> list[Example]:
    """The rows of ``path`` under the record contract; bad ones raise, or go to ``bad_rows`` when a list."""
    from instructkit.io import row_to_example
    from instructkit.rowcheck import BadRowError
    from instructkit.sources.datafiles import iter_file_rows

    out: list[Example] = []
    if path.stat().st_size == 0:  # a run whose every instance was rejected: no instances, not bad input
        return out
    for where, row in iter_file_rows(path):
        try:
            out.append(row_to_example(row, where))
        except BadRowError as e:
            if bad_rows is None:
                raise
            bad_rows.append(e.bad)
    return out


def _dynosaur_tasks(tasks_path: Path, bad_rows: list | None = None) -> list[Task]:
    inst_path = tasks_path.parent / "instances.jsonl"
    if not inst_path.exists():
        raise UserError(f"{tasks_path}: no instances.jsonl beside it; point at a complete Dynosaur run")
    tasks: dict[str, Task] = {}
    for i, row in enumerate(read_jsonl(tasks_path), 1):
        if not row.get("instruction"):
            raise UserError(f"{tasks_path}:{i}: task has no 'instruction'")
        t = Task.from_dict(row)
        tasks[t.id] = t
    grouped: dict[str, list[Example]] = {tid: [] for tid in tasks}
    for ex in _checked_examples(inst_path, bad_rows):
        tid = str(ex.meta.get("task_id") or "")
        if tid in grouped:
            grouped[tid].append(ex)
    out = []
    for tid, t in tasks.items():
        out.append(TaskBundle(id=tid, definition=t.instruction, instances=grouped[tid],
                              demonstrations=[{"input": str(d.get("input", "")), "output": str(d.get("output", ""))}
                                              for d in t.demonstrations],
                              label_space=_as_label_space(t.label_space), source=str(tasks_path),
                              meta={"dynosaur": t.source}, dynosaur=t.source))
    return out


# -- example files with a task column --------------------------------------------------------
def _example_file_tasks(path: Path, task_field: str, bad_rows: list | None = None) -> list[Task]:
    from instructkit.io import iter_rows, row_to_example
    from instructkit.rowcheck import BadRowError

    groups: dict[str, list[Example]] = {}
    for where, row in iter_rows(path):
        try:
            ex = row_to_example(row, where)
        except BadRowError as e:
            if bad_rows is None:
                raise
            bad_rows.append(e.bad)
            continue
        tid = ex.meta.get(task_field, row.get(task_field))
        if tid is None or str(tid) == "":
            raise UserError(f"{where}: no '{task_field}' field in the row or its meta; "
                            "name the task column with --task-field")
        ex.meta.setdefault("task_id", str(tid))
        groups.setdefault(str(tid), []).append(ex)
    if not groups:
        skipped = f" ({len(bad_rows)} bad rows skipped)" if bad_rows else ""
        raise UserError(f"{path}: holds no examples{skipped}")
    out = []
    for tid, exs in groups.items():
        # the task's instruction: the one most of its rows carry (ties: first seen)
        definition = Counter(e.instruction for e in exs).most_common(1)[0][0]
        if not definition.strip():
            raise UserError(f"{path}: task '{tid}' has no instruction in its rows")
        explicit = next((_as_label_space(e.meta.get("label_space")) for e in exs
                         if _as_label_space(e.meta.get("label_space"))), None)
        labels = explicit or infer_label_space([e.output for e in exs])
        out.append(TaskBundle(id=tid, definition=definition, instances=exs, label_space=labels,
                              source=str(path)))
    return out


def _load_one(p: Path, task_field: str, bad_rows: list | None = None) -> list[Task]:
    if not p.exists():
        raise UserError(f"{p}: no such file or folder")
    if p.is_dir():
        named = manifest_output(p, "tasks")  # a run directory names its outputs (Dynosaur: tasks.jsonl)
        if named is not None:
            return _dynosaur_tasks(named, bad_rows)
        if (p / "tasks.jsonl").exists():
            return _dynosaur_tasks(p / "tasks.jsonl", bad_rows)
        named = manifest_output(p, "examples")  # e.g. select active's selected_examples.jsonl
        if named is not None:
            return _example_file_tasks(named, task_field, bad_rows)
        jsons = sorted(f for f in p.glob("*.json") if f.name != "manifest.json")
        if jsons:
            return [t for f in jsons for t in _load_one(f, task_field, bad_rows)]
        if sorted(p.glob("*.jsonl")) or sorted(p.glob("*.parquet")):
            return _example_file_tasks(p, task_field, bad_rows)
        raise UserError(f"{p}: folder holds no tasks (no tasks.jsonl, SuperNI .json files or example files)")
    if p.name == "tasks.jsonl":
        return _dynosaur_tasks(p, bad_rows)
    if p.suffix.lower() == ".json":
        obj = read_json_file(p)
        if _is_superni(obj):
            return [_superni_task(obj, p)]
        if isinstance(obj, dict) and ("Definition" in obj or "Instances" in obj):
            raise UserError(f"{p}: a SuperNI task file needs both 'Definition' and 'Instances'")
    return _example_file_tasks(p, task_field, bad_rows)


def read_json_file(p: Path) -> Any:
    """One whole JSON file (a SuperNI task), every read or parse failure a one-line UserError."""
    from instructkit.sources.datafiles import parse_json, read_text

    return parse_json(read_text(p), str(p))


def load_tasks(paths: Sequence[str | Path], task_field: str = "task_id",
               min_instances: int = 1, bad_rows: list | None = None) -> list[Task]:
    """Every task in ``paths`` (files or folders, formats mixed freely), in input order.

    Tasks with fewer than ``min_instances`` instances are dropped; a task id seen twice is an error
    (the same source given twice, or two sources that collide). Example-file rows that break the
    record contract are errors, or, when ``bad_rows`` is a list, collected there and left out.
    """
    if not paths:
        raise UserError("no task sources given")
    out: list[Task] = []
    seen: dict[str, str] = {}
    for raw in paths:
        for t in _load_one(Path(raw), task_field, bad_rows):
            if t.id in seen:
                raise UserError(f"task id '{t.id}' appears in both {seen[t.id]} and {t.origin}; "
                                "give each source once or rename one task")
            seen[t.id] = t.origin
            if len(t.instances) >= min_instances:
                out.append(t)
    if not out:
        raise UserError(f"no tasks with at least {min_instances} instance(s) in: "
                        + ", ".join(str(p) for p in paths))
    return out
