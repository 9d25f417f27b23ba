"""Dynosaur task filters (§1.3) and label-space logic (§1.4), one test per rule, on hand-written answers."""

from __future__ import annotations

import json

import pytest

from instructkit.generate.dynosaur import filter as F
from instructkit.generate.dynosaur.filter import TaskProposal, check_fields, label_space_decision, parse_tasks

FIELDS = ["question", "context", "answer"]


def answer(*tasks):
    return json.dumps({"tasks": [dict(instruction=i, input_fields=ins, output_field=o) for i, ins, o in tasks]})


# -- §1.3 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["Sure! Here are some tasks.", "", "{\"tasks\": 3}", "[1, 2"])
def test_unparseable_answer(text):
    r = parse_tasks(text, "aware")
    assert r.error and not r.proposals


def test_json_in_prose_and_fences_is_read():
    r = parse_tasks("Here:\n```json\n" + answer(("Answer it.", ["question"], "answer")) + "\n```", "aware")
    assert r.error is None and r.proposals[0].output_field == "answer"


def test_malformed_entry_is_rejected_alone():
    text = json.dumps({"tasks": [{"instruction": 5, "input_fields": ["question"], "output_field": "answer"},
                                 "not a task",
                                 {"instruction": "Answer the question.", "input_fields": ["question"],
                                  "output_field": "answer"}]})
    r = parse_tasks(text)
    assert [x[1] for x in r.rejected] == [F.MALFORMED, F.MALFORMED]
    assert len(r.proposals) == 1


def test_repeated_input_field_counts_once():
    r = parse_tasks(answer(("Answer it.", ["question", "question", "context"], "answer")))
    assert r.proposals[0].input_fields == ["question", "context"]


def test_empty_output_field():
    p = parse_tasks(answer(("Answer it.", ["question"], ""))).proposals[0]
    assert check_fields(p, FIELDS) == F.EMPTY_OUTPUT


def test_empty_instruction():
    assert check_fields(TaskProposal("  ", ["question"], "answer"), FIELDS) == F.EMPTY_INSTRUCTION


def test_no_input_fields():
    assert check_fields(TaskProposal("Answer.", [], "answer"), FIELDS) == F.NO_INPUT


def test_field_not_in_dataset_input_and_output():
    assert check_fields(TaskProposal("Answer.", ["passage"], "answer"), FIELDS) == F.UNKNOWN_FIELD
    assert check_fields(TaskProposal("Answer.", ["question"], "label"), FIELDS) == F.UNKNOWN_FIELD


def test_real_but_unusable_field():
    p = TaskProposal("Describe the picture.", ["image"], "answer")
    assert check_fields(p, FIELDS, FIELDS + ["image"]) == F.UNUSABLE_FIELD


def test_field_both_input_and_output():
    assert check_fields(TaskProposal("Copy it.", ["question", "answer"], "answer"), FIELDS) == F.INPUT_IS_OUTPUT


def test_valid_task_passes():
    assert check_fields(TaskProposal("Answer the question.", ["question", "context"], "answer"), FIELDS) is None


def test_duplicate_instruction_within_dataset():
    d = F.DuplicateFilter()
    assert d.check(TaskProposal("Answer the question.", ["question"], "answer", mode="aware")) is None
    # case, spacing and final punctuation do not make a new instruction; other fields do not either
    assert d.check(TaskProposal("answer  the QUESTION", ["context"], "answer", mode="aware")) == F.DUP_INSTRUCTION


def test_exact_duplicate_across_modes():
    d = F.DuplicateFilter()
    assert d.check(TaskProposal("Answer the question.", ["question"], "answer", mode="aware")) is None
    assert d.check(TaskProposal("Answer the question.", ["question"], "answer", mode="unaware")) == F.DUP_ACROSS_MODES
    # same instruction, different fields, other mode: a duplicate instruction, not an exact duplicate
    assert d.check(TaskProposal("Answer the question.", ["context"], "answer", mode="unaware")) == F.DUP_INSTRUCTION


# -- §1.4 -----------------------------------------------------------------------------------------
def test_balanced_two_labels_is_classification_with_sorted_suffix():
    d = label_space_decision(["yes", "no", "no", "yes", "yes", "no"], None)
    assert d.kind == "classification" and d.reject is None
    assert d.labels == ["no", "yes"] and d.suffix == "Answers must be one of: no, yes."


def test_two_labels_imbalance_limit_is_70_percent():
    assert label_space_decision(["a"] * 7 + ["b"] * 3, None).reject is None          # exactly 70%: kept
    d = label_space_decision(["a"] * 8 + ["b"] * 2, None)
    assert d.reject == F.IMBALANCED and "80%" in d.detail


def test_many_labels_imbalance_limit_is_50_percent():
    assert label_space_decision(["a"] * 5 + ["b"] * 3 + ["c"] * 2, None).reject is None  # 50%: kept
    assert label_space_decision(["a"] * 6 + ["b"] * 2 + ["c"] * 2, None).reject == F.IMBALANCED


def test_single_label_is_dropped():
    d = label_space_decision(["same"] * 5, None)
    assert d.reject == F.SINGLE_LABEL


def test_too_many_labels_is_generation():
    vals = [f"v{i}" for i in range(11)] * 2
    d = label_space_decision(vals, None)
    assert d.kind == "generation" and d.labels is None and d.suffix == ""


def test_all_distinct_few_rows_is_generation_not_classification():
    assert label_space_decision(["a long answer", "another", "third"], None).kind == "generation"


def test_long_labels_get_no_suffix():
    long = ["the first rather long option text here", "the second rather long option text here too"]
    d = label_space_decision(long * 3, None)
    assert d.kind == "classification" and d.labels is not None and d.suffix == ""


def test_classlabel_keeps_id_order_and_names():
    names = ["world", "sports", "business"]
    d = label_space_decision(["sports", "world", "business", "world", "sports", "business"], names)
    assert d.labels == names and d.suffix == "Answers must be one of: world, sports, business."


def test_classlabel_is_classification_even_when_every_value_differs():
    d = label_space_decision(["neg", "pos"], ["neg", "pos"])
    assert d.kind == "classification" and d.labels == ["neg", "pos"]


def test_numeric_labels_sort_numerically():
    d = label_space_decision(["10", "2", "1", "2", "10", "1"], None)
    assert d.labels == ["1", "2", "10"]


def test_non_scalar_output_dropped():
    d = label_space_decision([None, None], None, non_scalar=2)
    assert d.reject == F.NON_SCALAR


def test_missing_values_are_ignored_for_balance():
    assert label_space_decision(["a", "b", None, None, "a", "b"], None).reject is None


def test_with_suffix_adds_once_with_punctuation():
    s = F.with_suffix("Pick the label", "Answers must be one of: a, b.")
    assert s == "Pick the label. Answers must be one of: a, b."
    assert F.with_suffix(s, "Answers must be one of: a, b.") == s


def test_instruction_quoting_an_example_row_is_rejected():
    rows = [{"text": "The island nation declared a state of emergency as a cyclone hit.", "label": "world"}]
    assert F.copies_row_value("Write about the island nation declared a state of emergency.", rows)
    assert not F.copies_row_value("Give the section of the newspaper this news item belongs to.", rows)
    assert not F.copies_row_value("Label it.", rows)  # shorter than the n-gram: nothing to copy
