"""Task inputs: SuperNI files and folders, Dynosaur runs, example files with a task column; bad input."""

from __future__ import annotations

import json

import pytest

from instructkit.errors import UserError
from instructkit.records import Example, Task
from instructkit.select.active.tasks_io import infer_label_space, load_tasks


def superni(path, definition, pairs, demos=(("in", "out"),), as_list=True, **extra):
    obj = {"Definition": [definition] if as_list else definition,
           "Positive Examples": [{"input": i, "output": o, "explanation": "fits"} for i, o in demos],
           "Instances": [{"id": f"{path.stem}-{j}", "input": i, "output": [o, o + "!"]}
                         for j, (i, o) in enumerate(pairs)], **extra}
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def test_superni_file_fields(tmp_path):
    p = superni(tmp_path / "task001_colors.json", "Name the colour of the fruit.",
                [("banana", "yellow"), ("lime", "green"), ("cherry", "red"), ("lemon", "yellow"),
                 ("kiwi", "green"), ("plum", "red")], demos=(("apple", "red"),))
    [t] = load_tasks([p])
    assert t.id == "task001_colors" and t.definition == "Name the colour of the fruit."
    assert t.demonstrations == [{"input": "apple", "output": "red"}]
    assert len(t.instances) == 6 and t.instances[0].output == "yellow"
    assert t.instances[0].meta["references"] == ["yellow", "yellow!"]
    assert t.instances[0].meta["task_id"] == "task001_colors"
    assert t.kind == "classification" and t.label_space == ["green", "red", "yellow"]


def test_superni_folder_and_generation_kind(tmp_path):
    superni(tmp_path / "a.json", "Reverse the word.", [(w, w[::-1]) for w in ("cat", "dog", "sun", "map", "pen")],
            as_list=False)
    superni(tmp_path / "b.json", "Say yes or no.", [("q1", "yes"), ("q2", "no"), ("q3", "yes"), ("q4", "no")])
    ts = load_tasks([tmp_path])
    assert [t.id for t in ts] == ["a", "b"]
    assert [t.kind for t in ts] == ["generation", "classification"]


def test_explicit_label_space_wins(tmp_path):
    p = superni(tmp_path / "c.json", "Label it.", [("x", "A")], **{"Label Space": ["A", "B"]})
    assert load_tasks([p])[0].label_space == ["A", "B"]


def test_infer_label_space_rules():
    assert infer_label_space(["a", "b", "a", "b"]) == ["a", "b"]
    assert infer_label_space(["a", "b"]) is None  # too few instances to tell
    assert infer_label_space(["a", "b", "c", "d"]) is None  # every output distinct
    assert infer_label_space(["a long answer of words"] * 4) is None


def test_dynosaur_run_dir(tmp_path):
    run = tmp_path / "dyn"
    run.mkdir()
    t1 = Task(instruction="Classify the review.", input_fields=["text"], output_field="label",
              label_space=["bad", "good"], source={"dataset": "d"})
    t2 = Task(instruction="Write a title.", input_fields=["text"], output_field="title", source={"dataset": "d"},
              demonstrations=[{"input": "some text", "output": "A Title"}])
    (run / "tasks.jsonl").write_text("\n".join(json.dumps(t.to_dict()) for t in (t1, t2)) + "\n")
    exs = [Example(instruction=t1.instruction, input=f"r{i}", output="good", meta={"task_id": t1.id}) for i in range(3)]
    exs += [Example(instruction=t2.instruction, input=f"s{i}", output=f"T{i}", meta={"task_id": t2.id}) for i in range(2)]
    exs += [Example(instruction="orphan", input="z", output="z", meta={"task_id": "nope"})]
    (run / "instances.jsonl").write_text("\n".join(json.dumps(e.to_dict()) for e in exs) + "\n")
    for src in (run, run / "tasks.jsonl"):
        ts = {t.id: t for t in load_tasks([src])}
        assert set(ts) == {t1.id, t2.id}
        assert ts[t1.id].kind == "classification" and len(ts[t1.id].instances) == 3
        assert ts[t2.id].kind == "generation" and ts[t2.id].demonstrations == [{"input": "some text", "output": "A Title"}]


def test_examples_jsonl_with_task_column(tmp_path):
    p = tmp_path / "ex.jsonl"
    rows = [{"instruction": "Add.", "input": f"{i} 1", "output": str(i + 1), "task_id": "add"} for i in range(3)]
    rows += [{"instruction": "Sign?", "input": str(i), "output": "pos" if i % 2 else "neg",
              "meta": {"task": "sign"}} for i in range(4)]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(UserError, match="task_id"):
        load_tasks([p])  # the 'sign' rows carry their id under another name
    p2 = tmp_path / "ex2.jsonl"
    p2.write_text("\n".join(json.dumps({**r, "meta": {"task": r.get("task_id", "sign")}}) for r in rows) + "\n")
    ts = {t.id: t for t in load_tasks([p2], task_field="task")}
    assert set(ts) == {"add", "sign"}
    assert ts["add"].definition == "Add." and len(ts["add"].instances) == 3
    assert ts["sign"].kind == "classification"


def test_duplicate_task_ids_and_empty_sources(tmp_path):
    p = superni(tmp_path / "d.json", "Do.", [("a", "b")])
    with pytest.raises(UserError, match="appears in both"):
        load_tasks([p, p])
    with pytest.raises(UserError, match="no such file"):
        load_tasks([tmp_path / "missing.json"])
    (tmp_path / "bad.json").write_text('{"Definition": ["x"]}')
    with pytest.raises(UserError, match="needs both 'Definition' and 'Instances'"):
        load_tasks([tmp_path / "bad.json"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="holds no tasks"):
        load_tasks([empty])


def test_cli_bad_inputs_exit_2(tmp_path, cli):
    run_cli = cli
    (tmp_path / "broken.json").write_text("{not json")
    r = run_cli("select", "active", tmp_path / "broken.json", "--k", "2", "--out", tmp_path / "o")
    assert r.returncode == 2 and "broken.json" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("select", "active", tmp_path / "nothing", "--k", "2", "--out", tmp_path / "o")
    assert r.returncode == 2 and "no such file" in r.stderr
    (tmp_path / "rows.jsonl").write_text('{"instruction": "x", "output": "y"}\n')
    r = run_cli("select", "active", tmp_path / "rows.jsonl", "--k", "1", "--out", tmp_path / "o2")
    assert r.returncode == 2 and "--task-field" in r.stderr
    good = superni(tmp_path / "g.json", "Do.", [("a", "b")])
    r = run_cli("select", "active", good, "--k", "1", "--out", tmp_path / "o3", "--strategy", "best")
    assert r.returncode == 2 and "--strategy" in r.stderr
    r = run_cli("taskmap", tmp_path / "none.jsonl", "--out", tmp_path / "m.png")
    assert r.returncode == 2 and "no scores file" in r.stderr
    r = run_cli("replay", good, "--budget", "1", "--out", tmp_path / "r")
    assert r.returncode == 2 and "at least two stages" in r.stderr
