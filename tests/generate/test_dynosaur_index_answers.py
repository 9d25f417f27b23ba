"""Dynosaur: a multiple-choice answer stored as an index into lettered options becomes the letter.

Pure unit tests on tiny in-memory cards (no model: the instance builder is called directly with
a hand-made task, and the per-dataset step gets scripted model answers).
"""

from __future__ import annotations

import asyncio
import json

from instructkit.generate.dynosaur import filter as F
from instructkit.generate.dynosaur.pipeline import (BAD_INDEX, DynosaurConfig, make_instances, options_field, process_dataset,
                                           select_tasks)
from instructkit.generate.dynosaur.meta import build_meta
from instructkit.records import Task
from instructkit.sources.card import DatasetCard, Feature
from tests.scripted import ScriptedBackend, open_scripted

FOUR = ["iron", "oxygen", "salt", "wood"]
ROWS = [
    {"question": "Which is a gas?", "choices": FOUR, "answer": 1},
    {"question": "Which is a metal?", "choices": FOUR, "answer": 0},
    {"question": "Which is a crystal?", "choices": FOUR, "answer": 2},
    {"question": "Which grows on trees?", "choices": FOUR, "answer": 3},
    {"question": "Which do we breathe?", "choices": FOUR, "answer": 1.0},   # a loader's float
    {"question": "Which is liquid?", "choices": ["ice", "steam", "water"], "answer": 3},  # 3 options
    {"question": "Which is hot?", "choices": FOUR, "answer": 9},            # out of range
    {"question": "Unlabelled?", "choices": FOUR, "answer": -1},             # HF's "no label"
    {"question": "Which rusts?", "choices": FOUR, "answer": 0},
    {"question": "Which burns?", "choices": FOUR, "answer": 3},
]
IDX = DatasetCard(name="idx", source="idx", description="Questions whose answer is an option index.",
                  features=[Feature("question", "string"), Feature("choices", "list<string>"),
                            Feature("answer", "int64")], rows=ROWS)


def task(card: DatasetCard, ins: list[str], out: str) -> Task:
    return Task(instruction="Pick the answer.", input_fields=ins, output_field=out, kind="classification",
                source={"dataset": card.name}, meta={"mode": "aware"})


def test_index_answer_is_shown_as_the_letter_of_its_option():
    exs, skipped = make_instances(IDX, task(IDX, ["question", "choices"], "answer"))
    assert [e.output for e in exs] == ["B", "A", "C", "D", "B", "A", "D"]
    assert [e.meta["row"] for e in exs] == [0, 1, 2, 3, 4, 8, 9]
    for e in exs:  # the letter is the one the input shows in front of the right option
        row = ROWS[e.meta["row"]]
        assert f"\n{e.output}. {row['choices'][int(row['answer'])]}" in e.input
    # an index past the row's options (3 of 3, 9 of 4) is skipped with its reason; -1 is "no label"
    assert skipped == {BAD_INDEX: 2, "missing_output": 1}


def test_without_the_options_in_the_input_the_number_stays():
    exs, skipped = make_instances(IDX, task(IDX, ["question"], "answer"))
    assert [e.output for e in exs[:3]] == ["1", "0", "2"] and not skipped  # nothing to letter against
    assert options_field(IDX, [IDX.feature("question")], IDX.feature("answer")) is None


def test_options_as_the_only_input_still_get_letters():
    exs, _ = make_instances(IDX, task(IDX, ["choices"], "answer"))
    assert exs[0].input.startswith("A. iron\nB. oxygen") and exs[0].output == "B"


def test_classlabel_names_still_win():
    # science_mc's shape: the card declares the answer a ClassLabel named A-D; the names are used
    card = DatasetCard(name="cl", source="cl",
                       features=[Feature("question", "string"), Feature("choices", "list<string>"),
                                 Feature("answer", "ClassLabel", label_names=["yes", "no", "maybe", "never"])],
                       rows=[dict(r, answer=int(r["answer"]) % 4) for r in ROWS])
    assert options_field(card, [card.feature("choices")], card.feature("answer")) is None
    exs, _ = make_instances(card, task(card, ["question", "choices"], "answer"))
    assert [e.output for e in exs[:3]] == ["no", "yes", "maybe"]


def test_non_integer_answers_are_left_alone():
    rows = [{"question": f"q{i}", "choices": FOUR, "answer": a} for i, a in enumerate(["oxygen", "iron", True])]
    card = DatasetCard(name="s", source="s", features=IDX.features, rows=rows)
    assert options_field(card, [card.feature("choices")], card.feature("answer")) is None
    exs, _ = make_instances(card, task(card, ["question", "choices"], "answer"))
    assert [e.output for e in exs] == ["oxygen", "iron", "true"]


def test_label_space_and_instruction_use_the_letters():
    props = [F.TaskProposal("Choose the correct option", ["question", "choices"], "answer", "aware", 0, {})]
    tasks, exs, rej, skipped = select_tasks(IDX, build_meta(IDX), props)
    (t,) = tasks
    assert t.kind == "classification" and t.label_space == ["A", "B", "C", "D"] and not rej
    assert t.instruction == "Choose the correct option. Answers must be one of: A, B, C, D."
    assert t.meta["answer_options_field"] == "choices"
    assert {e.output for e in exs} <= set(t.label_space)
    assert skipped == {BAD_INDEX: 2, "missing_output": 1}


def scripted_llm(tmp_path, answers):
    """The door (with a cache) around fixed answers, 10 prompt and 5 completion tokens each."""
    return open_scripted(ScriptedBackend(answers, usage=(10, 5)), cache=tmp_path / "cache.sqlite")


def test_bad_index_rows_are_reported_per_dataset_not_a_crash(tmp_path):
    answer = json.dumps({"tasks": [{"output_field": "answer", "input_fields": ["question", "choices"],
                                    "instruction": "Choose the correct option."}]})
    res = asyncio.run(process_dataset(scripted_llm(tmp_path, [answer, answer]), IDX, DynosaurConfig(verify=False)))
    assert res.status == "used" and len(res.tasks) == 1 and len(res.instances) == 7
    rec = res.record(IDX)  # the datasets.jsonl line (and, summed, the manifest's instances_skipped)
    assert rec["rows_skipped"] == {BAD_INDEX: 2, "missing_output": 1}
    assert rec["tasks_rejected"] == {F.DUP_ACROSS_MODES: 1}  # the unaware repeat; no task lost to bad rows


def test_run_directory_holds_the_letters_and_the_skip_reason(tmp_path):
    from instructkit.cli.dynosaur import format_summary
    from instructkit.generate.dynosaur.run import run_dynosaur

    answer = json.dumps({"tasks": [{"output_field": "answer", "input_fields": ["question", "choices"],
                                    "instruction": "Choose the correct option."}]})
    llm = scripted_llm(tmp_path, [answer, answer])
    manifest = run_dynosaur([IDX], tmp_path / "run", llm=llm, cfg=DynosaurConfig(verify=False))
    outputs = [json.loads(x)["output"] for x in (tmp_path / "run" / "instances.jsonl").read_text().splitlines()]
    assert outputs == ["B", "A", "C", "D", "B", "A", "D"]
    (ds,) = [json.loads(x) for x in (tmp_path / "run" / "datasets.jsonl").read_text().splitlines()]
    assert ds["rows_skipped"] == {BAD_INDEX: 2, "missing_output": 1}
    assert manifest["counts"]["instances_skipped"] == {BAD_INDEX: 2, "missing_output": 1}
    assert f"{BAD_INDEX} 2" in format_summary(manifest)
