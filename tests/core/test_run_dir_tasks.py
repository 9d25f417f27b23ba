"""Task loaders accept run directories: outputs.tasks (Dynosaur) or outputs.examples with a task column."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from instructkit.loop.evaluate import load_tasks as load_eval_tasks
from instructkit.records import Example, Task
from instructkit.select.active.tasks_io import load_tasks

ROOT = Path(__file__).resolve().parents[2]


def write_jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def dynosaur_like_run(d: Path, tasks_name: str = "tasks.jsonl") -> list[str]:
    d.mkdir()
    tasks = [Task(instruction=f"Label the {w}.", source={"dataset": "x"}) for w in ("topic", "mood")]
    write_jsonl(d / tasks_name, [t.to_dict() for t in tasks])
    write_jsonl(d / "instances.jsonl", [Example(t.instruction, input=f"in {i}", output="a",
                                                meta={"task_id": t.id}).to_dict() for t in tasks for i in range(3)])
    write_jsonl(d / "datasets.jsonl", [{"id": "x/default/train", "status": "used"}])
    (d / "manifest.json").write_text(json.dumps({"command": "dynosaur", "outputs": {
        "examples": "instances.jsonl", "tasks": tasks_name, "datasets": "datasets.jsonl"}}))
    return [t.id for t in tasks]


def test_dynosaur_run_dir_gives_its_tasks_to_both_loaders(tmp_path):
    ids = dynosaur_like_run(tmp_path / "dyn", tasks_name="kept_tasks.jsonl")  # found through outputs.tasks only
    assert [t.id for t in load_tasks([tmp_path / "dyn"])] == ids
    assert all(len(t.instances) == 3 for t in load_tasks([tmp_path / "dyn"]))
    assert [t.id for t in load_eval_tasks([tmp_path / "dyn"])] == ids


def test_select_active_run_dir_is_a_task_source_by_its_examples(tmp_path):
    run = tmp_path / "round1"
    run.mkdir()
    rows = [Example("Say it loud.", input=w, output=w.upper(), meta={"task_id": "shout"}).to_dict()
            for w in ("a", "b")]
    write_jsonl(run / "selected_examples.jsonl", rows)
    write_jsonl(run / "scores.jsonl", [{"id": "s", "task_id": "shout", "pu": 0.1}])
    write_jsonl(run / "selected.jsonl", [{"task_id": "shout", "rank": 1}])
    (run / "manifest.json").write_text(json.dumps({"command": "select active", "outputs": {
        "examples": "selected_examples.jsonl", "selected": "selected.jsonl", "scores": "scores.jsonl"}}))
    tasks = load_tasks([run])
    assert [(t.id, len(t.instances)) for t in tasks] == [("shout", 2)]


def test_manifest_json_is_not_taken_for_a_superni_task(tmp_path):
    d = tmp_path / "tasks"
    d.mkdir()
    shutil.copy(ROOT / "examples" / "active" / "task_even_or_odd.json", d)
    (d / "manifest.json").write_text(json.dumps({"command": "something"}))
    assert [t.id for t in load_tasks([d])] == ["task_even_or_odd"]
    assert [t.id for t in load_eval_tasks([d])] == ["task_even_or_odd"]
