"""One task type, one task loader, one classification rule, one chat rendering (issue 14 item 2)."""

from __future__ import annotations

import json
import random
import re
import string

import pytest

from instructkit.loop.evaluate import EvalInstance, EvalTask, build_prompt
from instructkit.loop.evaluate import load_tasks as load_eval_tasks
from instructkit.export import to_messages, user_turn
from instructkit.records import Example, Task
from instructkit.score.llm_scorers import example_prompt
from instructkit.select.qdit.run import text_of
from instructkit.select.active.tasks_io import TaskBundle
from instructkit.select.active.tasks_io import load_tasks as load_select_tasks
from instructkit.tasks import EVAL_RULE, infer_label_space, is_classification, load_tasks
from instructkit.loop.train import example_messages


@pytest.mark.parametrize("ex", [Example("Add the numbers.", "2 3", "5"), Example("Say hi.", "", "hi"),
                                Example("First.\n\nSecond.", "in\n\nput", "out")])
def test_every_caller_renders_the_user_turn_the_same_way(ex):
    want = ex.instruction + ("\n\n" + ex.input if ex.input else "")
    assert ex.user_turn() == want
    assert user_turn(ex) == want and example_prompt(ex) == want and text_of(ex, "instruction+input") == want
    assert [m["content"] for m in example_messages(ex) if m["role"] == "user"] == [want]
    assert [m["content"] for m in to_messages(ex)["messages"] if m["role"] == "user"] == [want]
    task = EvalTask("t", ex.instruction, [], demos=[("a", "b")])
    assert build_prompt(task, EvalInstance("i", ex.input, ["x"]), demos=0) == want


def test_system_turn_export_keeps_strings_only_train_keeps_any_value():
    ex = Example("Hi", "", "Hello", meta={"system": 7})
    assert example_messages(ex)[0] == {"role": "system", "content": "7"}
    assert to_messages(ex, system="Be kind.")["messages"][0] == {"role": "system", "content": "Be kind."}
    ex2 = Example("Hi", "", "Hello", meta={"system": "Be brief."})
    assert ex2.messages(system="ignored")[0]["content"] == "Be brief."
    assert Example("Hi", "", "Hello").messages() == [{"role": "user", "content": "Hi"},
                                                     {"role": "assistant", "content": "Hello"}]


# the two rules as they were written before they became one function: the oracle of this refactor
def _old_active_labels(outputs):
    outs = [o.strip() for o in outputs if o and o.strip()]
    distinct = sorted(set(outs))
    if len(outs) < 4 or not distinct or len(distinct) > 10 or 2 * len(distinct) > len(outs):
        return None
    if any(len(o.split()) > 3 for o in distinct):
        return None
    return distinct


def _old_normalize(text):
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def _old_eval_is_cls(label_space, refs):
    if label_space:
        return True
    if not refs or any(len(r.split()) > 3 for r in refs):
        return False
    return len({_old_normalize(r) for r in refs}) <= min(20, max(1, len(refs) // 2))


def test_one_classification_rule_keeps_both_old_thresholds():
    rng = random.Random(0)
    vocab = ["yes", "no", "Yes.", "the cat", "", "  ", "a b c d", "maybe", "x y z"] + [f"w{i}" for i in range(25)]
    for _ in range(3000):
        n = rng.randint(0, 40)
        outs = [rng.choice(vocab[: rng.randint(2, len(vocab))]) for _ in range(n)]
        assert infer_label_space(outs) == _old_active_labels(outs), outs
        assert is_classification(None, outs, **EVAL_RULE) == _old_eval_is_cls(None, outs), outs
        assert is_classification(None, outs) == (_old_active_labels(outs) is not None)
    assert is_classification(["a"]) and not is_classification(None) and not is_classification([])


def test_task_carries_instances_without_changing_its_record():
    plain = Task("Classify the topic.", ["text"], "label", label_space=["a", "b"], source={"dataset": "news"})
    inst = Example("Classify the topic.", "x", "a", meta={"task_id": plain.id})
    loaded = Task("Classify the topic.", ["text"], "label", label_space=["a", "b"], source={"dataset": "news"},
                  instances=[inst], origin="/tmp/run/tasks.jsonl")
    assert loaded.id == plain.id and loaded == plain
    assert loaded.to_dict() == plain.to_dict() and "instances" not in loaded.to_dict()
    assert Task.from_dict({**loaded.to_dict(), "instances": [{}], "origin": "x"}).instances == []
    bundle = TaskBundle(id="t", definition="Do it.", instances=[inst], demonstrations=[{"input": "i", "output": "o"}])
    ev = EvalTask("t", "Do it.", [EvalInstance("e", "i", ["o", "O"])], demos=[("i", "o")])
    assert isinstance(bundle, Task) and isinstance(ev, Task)
    assert bundle.definition == ev.definition == "Do it." and bundle.demos == ev.demos == [("i", "o")]
    assert ev.instances[0].references == ["o", "O"] and inst.references == ["a"]


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_one_loader_gives_both_readings_of_a_dynosaur_run_and_a_superni_file(tmp_path):
    run = tmp_path / "dyn"
    run.mkdir()
    tasks = [Task("Is it even?", source={"dataset": "n"}, label_space=["no", "yes"]), Task("Name the colour.", source={"dataset": "c"})]
    _write_jsonl(run / "tasks.jsonl", [t.to_dict() for t in tasks])
    _write_jsonl(run / "instances.jsonl", [Example(t.instruction, f"in {i}", ["yes", "no"][i % 2],
                                                   meta={"task_id": t.id}).to_dict()
                                           for t in tasks for i in range(6)])
    sni = tmp_path / "task9_yesno.json"
    sni.write_text(json.dumps({"Definition": ["Answer yes or no."], "Positive Examples": [],
                               "Instances": [{"id": f"q{i}", "input": f"q {i}", "output": ["yes"]}
                                             for i in range(5)]}))
    select = load_tasks([run, sni])
    evals = load_tasks([run, sni], for_eval=True, instances=2, min_instances=0)
    assert [t.id for t in select] == [t.id for t in evals] == [tasks[0].id, tasks[1].id, "task9_yesno"]
    assert [len(t.instances) for t in select] == [6, 6, 5] and [len(t.instances) for t in evals] == [2, 2, 2]
    # Dynosaur tasks keep their own label space (none inferred); Super-NI infers one from 5 x "yes"
    assert [t.kind for t in select] == ["classification", "generation", "classification"]
    assert evals[2].instances[0].id == "q0" and evals[2].is_classification
    assert [t.id for t in load_select_tasks([run])] == [t.id for t in load_eval_tasks([run], instances=1)]
