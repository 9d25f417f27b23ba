"""Tasks: the one task loader and the one "is it classification?" rule.

:func:`load_tasks` reads three inputs, each as a file or a folder, into
:class:`~instructkit.records.Task` records carrying their ``instances``:

* a **Dynosaur run** (a folder whose manifest names ``outputs.tasks``, or holding ``tasks.jsonl`` +
  ``instances.jsonl``, or the ``tasks.jsonl`` file itself): instances grouped by ``meta["task_id"]``;
* **Super-NaturalInstructions task files** (``Definition``, ``Positive Examples``, ``Instances``),
  one file or a folder of them;
* **any example file** ``io.load_examples`` reads, grouped by a task id column (``task_field``).

It has two readings, kept from the two loaders it replaces: the default one (Active-IT, replay:
every row under the record contract, label spaces inferred, all three inputs) and ``for_eval=True``
(eval: Dynosaur runs and Super-NI files only, instance ids from the file, references kept as
lists, at most ``instances`` per task).

A task is *classification* when it has a label space: given explicitly (Dynosaur ``label_space``, a
``label_space`` column, a Super-NI ``Label Space`` key) or, failing that, inferred from its outputs
by :func:`infer_label_space`: enough outputs, every one short (at most 3 words), and few distinct
values (at most ``max_labels``, and at most half as many as there are outputs).

Active-IT/replay and eval have always used different thresholds, kept as parameters so that no
task changes kind: Active-IT infers from at least 4 instance outputs, at most 10 labels, blanks
skipped (the defaults); eval counts every reference and demonstration output, at most 20 labels,
compared after its exact-match normalization (:data:`EVAL_RULE`).

>>> infer_label_space(["yes", "no", "yes", "no"])
['no', 'yes']
>>> is_classification(None, ["hot", "cold", "big", "small"])
False
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from instructkit.errors import UserError
from instructkit.labels import (  # noqa: F401  (the rule's public home stays instructkit.tasks too)
    EVAL_RULE, MAX_LABEL_WORDS, infer_label_space, is_classification, kind_of, normalize_label,
)
from instructkit.records import Example, Task
from instructkit.runs import manifest_output, read_jsonl


# -- building --------------------------------------------------------------------------------
def task_with_instances(id: str, definition: str, instances: list[Example], *,
                        demonstrations: list[dict[str, str]] | None = None,
                        demos: Iterable[tuple[str, str]] = (), label_space: list[str] | None = None,
                        origin: str = "", meta: dict[str, Any] | None = None,
                        source: dict[str, Any] | None = None) -> Task:
    """A loaded task: ``kind`` follows the label space; demonstrations as dicts or (input, output) pairs."""
    demonstrations = list(demonstrations or []) + [{"input": str(x), "output": str(y)} for x, y in demos]
    return Task(instruction=definition, label_space=label_space, kind=kind_of(label_space),
                source=dict(source or {}), demonstrations=demonstrations, meta=dict(meta or {}),
                id=id, instances=list(instances), origin=origin)


def reference_instance(id: str, input: str, references: list[str]) -> Example:
    """An instance to evaluate: an Example whose ``meta.references`` are the accepted outputs."""
    refs = [str(r) for r in references]
    return Example(instruction="", input=input, output=refs[0] if refs else "", meta={"references": refs}, id=id)


# -- the default reading (Active-IT, replay) -------------------------------------------------
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
    return task_with_instances(id=task_id, definition=definition, instances=instances, demonstrations=demos,
                               label_space=labels, origin=str(path), meta=meta)


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
        out.append(task_with_instances(id=tid, definition=t.instruction, instances=grouped[tid],
                                       demos=t.demos, label_space=_as_label_space(t.label_space),
                                       origin=str(tasks_path), meta={"dynosaur": t.source}, source=t.source))
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
        out.append(task_with_instances(id=tid, definition=definition, instances=exs, label_space=labels,
                                       origin=str(path)))
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


# -- the eval reading ------------------------------------------------------------------------
def _eval_text(value: Any, field: str, where: str, row: dict[str, Any]) -> str:
    """A text field of an eval instance under the record contract's conversions (``4`` -> ``"4"``,
    ``null`` -> ``""``; lists, objects, booleans, NaN refused), so no ``"None"`` or ``"[1, 2]"`` is
    scored as a reference. eval has no --skip-bad-rows: a bad instance is one line, exit 2."""
    from instructkit.rowcheck import BadRowError, as_text

    try:
        return as_text(value, field, where, row)
    except BadRowError as e:
        raise UserError(f"{e.bad.message()}; fix the task file") from None


def _as_refs(value: Any, where: str, row: dict[str, Any] | None = None) -> list[str]:
    refs = value if isinstance(value, list) else [value]
    refs = [t for r in refs if (t := _eval_text(r, "output", where, row or {})).strip()]
    if not refs:
        raise UserError(f"{where}: instance has no reference output")
    return refs


def load_superni_for_eval(path: Path, instances: int | None = None) -> Task:
    """One Super-NI task file."""
    from instructkit.sources.datafiles import parse_json, read_text

    data = parse_json(read_text(path), str(path))  # gzip, decode and nesting errors: one line
    if not isinstance(data, dict) or "Instances" not in data or "Definition" not in data:
        raise UserError(f"{path}: not a Super-NI task file (needs 'Definition' and 'Instances')")
    definition = data["Definition"]
    definition = " ".join(definition) if isinstance(definition, list) else str(definition)
    demos = [(str(d.get("input", "")), str(d.get("output", ""))) for d in data.get("Positive Examples") or []
             if isinstance(d, dict)]
    task_id = Path(path.name.removesuffix(".gz")).stem  # task1.json.gz is task1, as task1.json
    if not isinstance(data["Instances"], list):
        raise UserError(f"{path}: 'Instances' must be a list of {{'input', 'output'}} objects")
    rows = data["Instances"][: instances] if instances else data["Instances"]
    insts = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "input" not in row:
            raise UserError(f"{path}: Instances[{i}] needs 'input' and 'output'")
        where = f"{path}: Instances[{i}]"
        insts.append(reference_instance(id=str(row.get("id") or f"{task_id}-{i}"),
                                        input=_eval_text(row["input"], "input", where, row),
                                        references=_as_refs(row.get("output"), where, row)))
    labels = data.get("label_space") or data.get("Label Space")
    return task_with_instances(id=task_id, definition=definition, instances=insts, demos=demos,
                               label_space=list(labels) if labels else None, origin=str(path))


def load_dynosaur_for_eval(tasks_file: Path, instances: int | None = None) -> list[Task]:
    """Our ``tasks.jsonl`` with the ``instances.jsonl`` beside it."""
    inst_file = tasks_file.with_name("instances.jsonl")
    if not inst_file.is_file():
        raise UserError(f"{tasks_file}: no instances.jsonl beside it (instances carry meta.task_id)")
    from instructkit.rowcheck import BadRowError

    by_task: dict[str, list[Example]] = {}
    try:  # the record contract, as for every example file: no "None" or "[1, 2]" becomes a reference
        examples = _checked_examples(inst_file, None)
    except BadRowError as e:
        raise UserError(f"{e.bad.message()}; fix the row") from None
    for ex in examples:
        tid = ex.meta.get("task_id")
        if tid:
            by_task.setdefault(str(tid), []).append(ex)
    out = []
    for i, row in enumerate(read_jsonl(tasks_file), 1):
        try:
            task = Task.from_dict(row)
        except TypeError as e:
            raise UserError(f"{tasks_file}:{i}: not a task record ({e})") from None
        exs = by_task.get(task.id, [])
        if instances:
            exs = exs[:instances]
        if not exs:
            continue  # a task without instances cannot be evaluated; reported by the caller
        insts = [Example(instruction=ex.instruction, input=ex.input, output=ex.output, id=ex.id,
                         meta={**ex.meta, "references": _as_refs(ex.meta.get("references") or ex.output,
                                                                 f"{inst_file}: {ex.id}")}) for ex in exs]
        demos = [(str(d.get("input", "")), str(d.get("output", ""))) for d in task.demonstrations]
        out.append(task_with_instances(id=task.id, definition=task.instruction, instances=insts, demos=demos,
                                       label_space=task.label_space or None, origin=str(tasks_file)))
    return out


def _eval_load_one(p: Path, instances: int | None) -> list[Task]:
    if p.is_dir():
        named = manifest_output(p, "tasks") or (p / "tasks.jsonl")  # a Dynosaur run names its tasks
        if named.is_file():
            return load_dynosaur_for_eval(named, instances)
        files = sorted(f for f in [*p.glob("*.json"), *p.glob("*.json.gz")] if f.name != "manifest.json")
        if not files:
            raise UserError(f"{p}: holds neither tasks.jsonl nor Super-NI task .json(.gz) files")
        return [load_superni_for_eval(f, instances) for f in files]
    if p.is_file() and p.suffix == ".jsonl":
        return load_dynosaur_for_eval(p, instances)
    if p.is_file():
        return [load_superni_for_eval(p, instances)]
    raise UserError(f"{p}: no such task file or folder")


# -- the one entry ---------------------------------------------------------------------------
def load_tasks(paths: Sequence[str | Path], *, task_field: str = "task_id", min_instances: int = 1,
               bad_rows: list | None = None, instances: int | None = None,
               for_eval: bool = False) -> list[Task]:
    """Every task in ``paths`` (files or folders, formats mixed freely), in input order.

    Tasks with fewer than ``min_instances`` instances are dropped; a task id seen twice is an error
    (the same source given twice, or two sources that collide). Example-file rows that break the
    record contract are errors, or, when ``bad_rows`` is a list, collected there and left out.
    ``for_eval`` selects eval's reading (see the module docstring), where ``instances`` caps each task.
    """
    if not paths and not for_eval:
        raise UserError("no task sources given")
    if for_eval:  # eval reads every source before it checks ids
        found: Iterable[Task] = [t for raw in paths for t in _eval_load_one(Path(raw), instances)]
    else:
        found = (t for raw in paths for t in _load_one(Path(raw), task_field, bad_rows))
    out: list[Task] = []
    seen: dict[str, str] = {}
    for t in found:
        if t.id in seen:
            if for_eval:
                raise UserError(f"task '{t.id}' is given twice ({t.origin}); name each task once")
            raise UserError(f"task id '{t.id}' appears in both {seen[t.id]} and {t.origin}; "
                            "give each source once or rename one task")
        seen[t.id] = t.origin
        if len(t.instances) >= min_instances:
            out.append(t)
    if not out:
        if for_eval:
            raise UserError("no task with instances to evaluate in " + ", ".join(map(str, paths)))
        raise UserError(f"no tasks with at least {min_instances} instance(s) in: "
                        + ", ".join(str(p) for p in paths))
    return out
