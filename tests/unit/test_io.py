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


def test_generator_folder_skips_rejected_and_temp_files(tmp_path):
    run = tmp_path / "gen"
    run.mkdir()
    (run / "examples.jsonl").write_text(json.dumps(Example("g", output="o").to_dict()) + "\n")
    (run / "rejected.jsonl").write_text(json.dumps({"id": "r", "reason": "bad"}) + "\n")
    (run / ".examples.jsonl.tmp-1").write_text("{torn")
    (run / "manifest.json").write_text(json.dumps({"command": "glan"}))
    assert [e.instruction for e in load_examples(run)] == ["g"]


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
