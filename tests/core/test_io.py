"""io.load_examples reads what generators, selectors and exports write."""

from __future__ import annotations

import json

import pytest

from instructkit.errors import UserError
from instructkit.io import load_examples, row_to_example, split_user_turn
from instructkit.records import Example


def test_meta_as_json_string_and_extra_columns():
    ex = row_to_example({"instruction": "i", "output": "o", "meta": '{"a": 1}', "quality": 2})
    assert ex.meta == {"a": 1, "quality": 2}
    ex = row_to_example({"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}],
                         "meta": '{"b": 2}'})
    assert ex.meta == {"b": 2} and ex.instruction == "u"


def test_split_user_turn_uses_the_id():
    ex = Example("first\n\nsecond", "third\n\nfourth", "out")
    assert split_user_turn("first\n\nsecond\n\nthird\n\nfourth", "out", ex.id) == ("first\n\nsecond", "third\n\nfourth")
    only = Example("a\n\nb", "", "o")
    assert split_user_turn("a\n\nb", "o", only.id) == ("a\n\nb", "")
    assert split_user_turn("a\n\nb", "o", "") == ("a", "b")  # no id: the first blank line splits


def test_run_directory_reads_its_examples_file(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "kept.jsonl").write_text(json.dumps(Example("k").to_dict()) + "\n")
    (run / "dropped.jsonl").write_text(json.dumps({"id": "x", "kept_id": "y"}) + "\n")
    (run / "manifest.json").write_text(json.dumps({"command": "dedup", "examples": "kept.jsonl"}))
    assert [e.instruction for e in load_examples(run)] == ["k"]


def test_run_directory_reads_manifest_outputs_examples(tmp_path):
    # the contract: manifest.outputs.examples names the file, whatever else the folder holds
    # (real run directories of every command: tests/cli/test_run_chain.py)
    run = tmp_path / "run"
    run.mkdir()
    (run / "answers.jsonl").write_text(json.dumps({"id": "a1", "answer": "no instruction here"}) + "\n")
    (run / "examples.jsonl").write_text(json.dumps(Example("g", output="o").to_dict()) + "\n")
    (run / "manifest.json").write_text(json.dumps({"command": "glan", "outputs": {"examples": "examples.jsonl"}}))
    assert [e.instruction for e in load_examples(run)] == ["g"]


def test_plain_folder_skips_rejected_and_temp_files(tmp_path):
    folder = tmp_path / "gen"
    folder.mkdir()
    (folder / "examples.jsonl").write_text(json.dumps(Example("g", output="o").to_dict()) + "\n")
    (folder / "rejected.jsonl").write_text(json.dumps({"id": "r", "reason": "bad"}) + "\n")
    (folder / ".examples.jsonl.tmp-1").write_text("{torn")
    assert [e.instruction for e in load_examples(folder)] == ["g"]


def test_old_run_directory_without_outputs_reads_its_commands_examples(tmp_path):
    run = tmp_path / "dyn"
    run.mkdir()
    (run / "datasets.jsonl").write_text(json.dumps({"id": "news/default/train", "status": "used"}) + "\n")
    (run / "instances.jsonl").write_text(json.dumps(Example("i", output="o").to_dict()) + "\n")
    (run / "manifest.json").write_text(json.dumps({"command": "dynosaur"}))
    assert [e.instruction for e in load_examples(run)] == ["i"]


def test_run_directory_of_a_command_without_examples_says_so(tmp_path):
    run = tmp_path / "ev"
    run.mkdir()
    (run / "predictions.jsonl").write_text(json.dumps({"id": "p", "prediction": "x"}) + "\n")
    (run / "manifest.json").write_text(json.dumps({"command": "eval", "outputs": {"results": "results.json"}}))
    with pytest.raises(UserError, match="'eval' run directory names no examples file"):
        load_examples(run)


@pytest.mark.parametrize("row, needle", [
    ({"messages": ["hi", "there"]}, "messages"),
    ({"conversations": [{"from": "human", "value": "q"}]}, "assistant"),
    ({"text": "no known fields"}, "no instruction"),
])
def test_bad_rows_name_the_problem(row, needle):
    with pytest.raises(UserError, match=needle):
        row_to_example(row, "f.jsonl:3")


def test_empty_and_bad_files(tmp_path):
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n")
    with pytest.raises(UserError, match="no examples"):
        load_examples(empty)
    notlist = tmp_path / "n.json"
    notlist.write_text('"just a string"')
    with pytest.raises(UserError, match="list"):
        load_examples(notlist)
