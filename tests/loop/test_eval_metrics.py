"""Task loading, prompts and metrics of `instructkit eval` (no model)."""

from __future__ import annotations

import json

import pytest

from instructkit.errors import UserError
from instructkit.loop.evaluate import (EvalInstance, EvalTask, build_prompt, exact_match, format_table, load_tasks,
                                  normalize, rouge_l, summarize)


def test_rouge_l_is_the_best_lcs_f_measure_times_100():
    assert rouge_l("the cat sat", ["the cat sat"]) == pytest.approx(100.0)
    assert rouge_l("dog", ["the cat"]) == 0.0
    # LCS "the cat" = 2 tokens: precision 2/3, recall 1 -> F = 0.8
    assert rouge_l("the cat sat", ["the cat"]) == pytest.approx(80.0)
    assert rouge_l("the cat sat", ["dog", "the cat"]) == pytest.approx(80.0)  # max over references
    assert rouge_l("running", ["runs"]) == pytest.approx(100.0)  # stemming
    assert rouge_l("", ["x"]) == 0.0


def test_exact_match_normalizes_case_punctuation_and_articles():
    assert normalize("  The Answer:  Positive! ") == "answer positive"
    assert exact_match("Positive.", ["positive"]) == 100.0
    assert exact_match("positive review", ["positive"]) == 0.0
    assert exact_match("an apple", ["Apple", "pear"]) == 100.0


def _task(refs, label_space=None):
    return EvalTask("t", "Do it.", [EvalInstance(str(i), "x", [r]) for i, r in enumerate(refs)],
                    label_space=label_space)


def test_classification_is_a_label_space_or_a_few_short_repeated_labels():
    assert _task(["yes", "no", "yes", "no"]).is_classification
    assert _task(["a b c d e"], label_space=["a b c d e"]).is_classification
    assert not _task(["hot", "cold", "big", "small"]).is_classification  # all distinct: antonyms
    assert not _task(["a whole sentence of output here", "another"]).is_classification


def test_prompt_has_definition_demos_and_input():
    t = EvalTask("t", "Say the opposite.", [], demos=[("hot", "cold"), ("up", "down"), ("in", "out")])
    inst = EvalInstance("i", "big", ["small"])
    assert build_prompt(t, inst, 0) == "Say the opposite.\n\nbig"
    p2 = build_prompt(t, inst, 2)
    assert p2.startswith("Say the opposite.") and p2.endswith("big")
    assert "Input: hot\nOutput: cold" in p2 and "Input: up\nOutput: down" in p2 and "in\nOutput: out" not in p2


def _superni(path, n=3):
    path.write_text(json.dumps({
        "Definition": ["Answer yes or no."], "Positive Examples": [{"input": "q0", "output": "yes"}],
        "Instances": [{"id": f"i{k}", "input": f"q{k}", "output": ["yes" if k % 2 else "no"]} for k in range(n)]}))


def test_load_superni_files_and_folders(tmp_path):
    _superni(tmp_path / "task1_yesno.json", n=5)
    tasks = load_tasks([tmp_path], instances=3)
    assert [t.id for t in tasks] == ["task1_yesno"]
    assert [i.references for i in tasks[0].instances] == [["no"], ["yes"], ["no"]]
    assert tasks[0].demos == [("q0", "yes")] and tasks[0].definition == "Answer yes or no."
    with pytest.raises(UserError, match="given twice"):
        load_tasks([tmp_path, tmp_path / "task1_yesno.json"])


def test_load_our_tasks_and_instances(tmp_path):
    from instructkit.records import Example, Task

    t = Task(instruction="Label the mood.", input_fields=["text"], output_field="mood",
             label_space=["happy", "sad"])
    other = Task(instruction="No instances here.")
    (tmp_path / "tasks.jsonl").write_text(json.dumps(t.to_dict()) + "\n" + json.dumps(other.to_dict()) + "\n")
    exs = [Example(instruction=t.instruction, input=f"text {k}", output="happy", meta={"task_id": t.id})
           for k in range(4)]
    (tmp_path / "instances.jsonl").write_text("".join(json.dumps(e.to_dict()) + "\n" for e in exs))
    tasks = load_tasks([tmp_path], instances=2)
    assert len(tasks) == 1 and tasks[0].id == t.id and tasks[0].is_classification
    assert [i.input for i in tasks[0].instances] == ["text 0", "text 1"]


def test_bad_task_files_are_one_line_user_errors(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="bad.json"):
        load_tasks([tmp_path / "bad.json"])
    (tmp_path / "wrong.json").write_text(json.dumps({"Definition": "x"}))
    with pytest.raises(UserError, match="Instances"):
        load_tasks([tmp_path / "wrong.json"])
    (tmp_path / "noref.json").write_text(json.dumps({"Definition": "x", "Instances": [{"input": "a", "output": []}]}))
    with pytest.raises(UserError, match="reference"):
        load_tasks([tmp_path / "noref.json"])
    with pytest.raises(UserError, match="no such"):
        load_tasks([tmp_path / "missing"])


def test_summarize_averages_per_task_and_overall():
    cls = _task(["yes", "no", "yes", "no"])
    gen = EvalTask("g", "Write.", [EvalInstance("a", "x", ["one two"]), EvalInstance("b", "y", ["three"])])
    preds = {f"t\x00{k}": {"rougeL": 100.0 if k < 2 else 0.0, "exact_match": 100.0 if k < 2 else 0.0}
             for k in range(4)}
    preds["g\x00a"] = {"rougeL": 50.0, "exact_match": 0.0}
    preds["g\x00b"] = {"rougeL": 10.0, "exact_match": 0.0}
    res = summarize([cls, gen], preds, "m")
    assert res["tasks"]["t"] == {**res["tasks"]["t"], "kind": "classification", "rougeL": 50.0, "exact_match": 50.0}
    assert res["tasks"]["g"]["exact_match"] is None and res["tasks"]["g"]["rougeL"] == 30.0
    assert res["overall"]["rougeL"] == pytest.approx(260 / 6, abs=0.01)
    assert res["overall"]["rougeL_task_mean"] == 40.0
    assert res["overall"]["exact_match_classification"] == 50.0
    table = format_table(res)
    assert "overall" in table and "classification" in table and "50.00" in table
