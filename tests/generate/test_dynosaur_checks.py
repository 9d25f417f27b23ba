"""Dynosaur's checks on an instruction's own text: each drop has its reason in rejected.jsonl."""

from __future__ import annotations

import pytest

from instructkit.generate.dynosaur import checks as C
from instructkit.generate.dynosaur import filter as F
from instructkit.generate.dynosaur.pipeline import select_tasks
from instructkit.generate.dynosaur.meta import build_meta
from instructkit.generate.dynosaur.prompt import demo_instructions
from instructkit.sources.card import DatasetCard, Feature

NEWS = DatasetCard(
    name="news", source="news", description="News headlines with their topic.",
    features=[Feature("text", "string"), Feature("label", "ClassLabel", label_names=["world", "sports"])],
    rows=[{"text": f"headline number {i} about things", "label": i % 2} for i in range(8)])


def proposal(instruction: str, index: int = 0) -> F.TaskProposal:
    return F.TaskProposal(instruction, ["text"], "label", "aware", index, {"instruction": instruction})


def test_a_copy_of_one_of_our_demonstrations_is_dropped():
    demo = demo_instructions()[0]
    assert C.copies_demonstration(demo, demo_instructions())
    assert C.copies_demonstration(demo.upper().rstrip(".") + " please", demo_instructions())
    assert not C.copies_demonstration("Classify the news headline by its topic.", demo_instructions())


@pytest.mark.parametrize("text, why", [
    ("Topic", "too short"),
    ("Predict the topic of the text, the topic of the text, the topic of the text.", "repeats"),
    ("text label text label text label text label text label", "repeats"),
    ("The news headline and its topic label.", "asks for nothing"),
])
def test_degenerate_instructions(text, why):
    assert why in (C.degenerate(text) or "")


@pytest.mark.parametrize("text", ["Classify the news headline by its topic.",
                                  "Which topic does this headline belong to?",
                                  "Given a headline, tell whether it is about world news or sports."])
def test_real_requests_are_not_degenerate(text):
    assert C.degenerate(text) is None and not C.leaks_answer(text)


@pytest.mark.parametrize("text", ["Read the question. The answer is: 2.", 'Classify it. Output: "sports"',
                                  "Given the premise and hypothesis, the label is entailment."])
def test_an_instruction_stating_the_output_leaks_it(text):
    assert C.leaks_answer(text)


@pytest.mark.parametrize("text", ["The answer is one of the listed options.",
                                  "Write a summary. The output should be a short sentence."])
def test_describing_the_output_is_not_a_leak(text):
    assert not C.leaks_answer(text)


def test_select_tasks_records_each_check_as_a_rejection_reason():
    view = build_meta(NEWS)
    props = [proposal(demo_instructions()[0], 0), proposal("Headline headline headline headline headline.", 1),
             proposal("Classify the headline. The answer is: 'sports'.", 2),
             proposal("Classify the news headline by its topic.", 3)]
    tasks, _, rej, _ = select_tasks(NEWS, view, props)
    assert [r.reason for r in rej] == [C.COPIES_DEMONSTRATION, C.DEGENERATE, C.LEAKS_ANSWER]
    assert [t.meta["proposed_instruction"] for t in tasks] == ["Classify the news headline by its topic."]
