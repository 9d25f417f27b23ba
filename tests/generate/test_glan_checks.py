"""GLAN checks on realistic question/answer pairs, and in a run (scripted model: it injects the faults).

The same checks on the real embedded model: tests/generate/test_glan_cli.py.
"""

from __future__ import annotations

import pytest

from instructkit.generate.glan.checks import (ECHO, NEAR_DUPLICATE, OFF_TOPIC, REFUSAL, TRUNCATED, check_answer,
                                              near_duplicates, similarity, truncation_policy)
from test_glan_pipeline import Scripted, cfg, rows, run

MOLARITY = "Calculate the molarity of a solution made by dissolving 5.85 g of NaCl in enough water to make 250 mL."
MOLARITY_ANSWER = ("Step 1: the molar mass of NaCl is 58.44 g/mol, so 5.85 g is 0.100 mol. Step 2: 250 mL is "
                   "0.250 L. Step 3: molarity = 0.100 mol / 0.250 L = 0.400 M.")
JOINT = "Why is a mortise and tenon joint stronger than a butt joint when building a table frame?"
JOINT_ANSWER = ("A butt joint relies only on glue and end grain, which holds poorly. A mortise and tenon joint "
                "interlocks the rail and leg, giving long-grain glue surfaces and resisting racking.")
PHOTOSYNTHESIS_ANSWER = ("Plants capture light with chlorophyll; the light reactions split water and release "
                         "oxygen, and the Calvin cycle fixes carbon dioxide into glucose.")


@pytest.mark.parametrize("question,answer", [
    (MOLARITY, MOLARITY_ANSWER),
    (JOINT, JOINT_ANSWER),
    ("What is 2+2?", "4"),                                   # short: not judged off-topic
    ("Is water a polar molecule?", "Yes, it is."),
    ("Explain how enzymes lower activation energy.",          # stems meet: enzymes/enzyme, lowers/lower
     "An enzyme binds its substrate and stabilises the transition state, which lowers the energy barrier."),
])
def test_good_answers_pass(question, answer):
    assert check_answer(question, answer, "stop") is None


@pytest.mark.parametrize("answer", [
    "I'm sorry, but I can't help with calculating that without more information.",
    "As an AI language model, I cannot perform laboratory calculations.",
    "I am unable to answer this question.",
    "Sorry, but I don't have enough information to solve this.",
])
def test_refusals_are_rejected(answer):
    reason, evidence = check_answer(MOLARITY, answer, "stop")
    assert reason == REFUSAL and evidence["matched"]


def test_a_truncated_answer_is_rejected_unless_kept():
    cut = MOLARITY_ANSWER[:90]
    assert check_answer(MOLARITY, cut, "length") == (TRUNCATED, {"finish_reason": "length"})
    assert check_answer(MOLARITY, cut, "length", truncated="keep") is None
    assert check_answer(MOLARITY, MOLARITY_ANSWER, "stop") is None
    # auto: reject at the default budget, keep under a --max-tokens cap (every answer is cut there)
    assert truncation_policy("auto", None, 1536) == "reject" and truncation_policy("auto", 96, 1536) == "keep"
    assert truncation_policy("auto", 4096, 1536) == "reject" and truncation_policy("keep", None, 1536) == "keep"


def test_an_answer_to_another_question_is_off_topic():
    reason, evidence = check_answer(JOINT, PHOTOSYNTHESIS_ANSWER, "stop")
    assert reason == OFF_TOPIC and "joint" in evidence["question_content_words"]
    assert check_answer(MOLARITY, JOINT_ANSWER, "stop")[0] == OFF_TOPIC


def test_an_answer_that_repeats_the_question_is_an_echo():
    assert check_answer(JOINT, JOINT, "stop")[0] == ECHO
    assert check_answer(JOINT, "Question: " + JOINT.lower(), "stop")[0] == ECHO
    assert check_answer(JOINT, JOINT + " " + JOINT_ANSWER, "stop") is None  # restating first is fine


def test_near_duplicates_vs_distinct_questions():
    near = [
        (MOLARITY, MOLARITY.replace("250 mL", "500 mL")),    # one number changed
        ("What is the difference between an exothermic and an endothermic reaction?",
         "What is the difference between an endothermic and an exothermic reaction?"),
        (JOINT, JOINT + " "),
    ]
    distinct = [
        (MOLARITY, "Explain why NaCl dissolves in water but not in hexane."),
        (JOINT, "How do you cut a mortise by hand with a chisel?"),
        ("Explain how c0.0 and c1.0 relate.", "Explain how c0.1 and c1.1 relate."),  # different symbols
    ]
    assert all(similarity(a, b) >= 0.8 for a, b in near), [similarity(a, b) for a, b in near]
    assert all(similarity(a, b) < 0.8 for a, b in distinct), [similarity(a, b) for a, b in distinct]


def q(qid, syllabus, text, failure=None):
    return {"id": qid, "syllabus_id": syllabus, "question": text, "failure": failure}


def test_near_duplicates_per_syllabus_in_plan_order():
    a, b = MOLARITY, MOLARITY.replace("250 mL", "500 mL")
    qs = [q("1", "s1", a), q("2", "s1", "Explain why NaCl dissolves in water but not in hexane."),
          q("3", "s1", b), q("4", "s2", b),           # the same text in another syllabus is not a duplicate
          q("5", "s1", "", failure="empty_output")]   # failed questions are not compared
    dropped = near_duplicates(qs, 0.8)
    assert set(dropped) == {"3"} and dropped["3"][0] == "1" and dropped["3"][1] >= 0.8
    assert near_duplicates(qs, 0.95) == {}
    # a dropped question never drops another: x~y and y~z but x!~z keeps z
    x = "alpha beta gamma delta epsilon zeta eta theta"
    y = "alpha beta gamma delta epsilon zeta eta iota"
    z = "alpha beta gamma delta epsilon zeta kappa iota"
    assert similarity(x, y) >= 0.7 and similarity(y, z) >= 0.7 and similarity(x, z) < 0.7
    assert set(near_duplicates([q("x", "s", x), q("y", "s", y), q("z", "s", z)], 0.7)) == {"y"}


class Faulty(Scripted):
    """Repeats one syllabus's questions, refuses some answers and rambles off-topic on others."""

    async def chat(self, req):
        comp = await super().chat(req)
        kind = self.kind(req)
        if kind == "question" and "Carpentry" in req.messages[0][1]:
            comp.text = "Question: Why is a mortise and tenon joint stronger than a butt joint?"
        elif kind == "answer" and "c0.0" in comp.text:
            comp.text = "I'm sorry, but I cannot help with that."
        elif kind == "answer" and "c1.1" in comp.text:
            comp.text = PHOTOSYNTHESIS_ANSWER
        return comp


def test_checks_in_a_run_reject_with_reasons_and_count_them(tmp_path):
    fake = Faulty()
    res, man = run(tmp_path, cfg(), fake)
    # Carpentry: 4 identical questions per syllabus -> 1 kept, 3 near-duplicates each, never answered
    assert man["counts"]["questions_near_duplicates"] == 6 and fake.calls["answer"] == 16 - 6
    dedup, checks = man["stages"]["questions_dedup"], man["stages"]["answer_checks"]
    assert dedup == {"planned": 16, "done": 10, "failed": 6, "missing": 0,
                     "rejected": {NEAR_DUPLICATE: 6}, "threshold": 0.8, "enabled": True}
    rejected = rows(tmp_path, "rejected")
    by_reason = {r["reason"] for r in rejected}
    assert {NEAR_DUPLICATE, REFUSAL, OFF_TOPIC} <= by_reason
    n_refused, n_off = (sum(r["reason"] == x for r in rejected) for x in (REFUSAL, OFF_TOPIC))
    assert checks["rejected"] == {REFUSAL: n_refused, OFF_TOPIC: n_off} and n_refused and n_off
    assert checks["planned"] == 10 and checks["done"] == 10 - n_refused - n_off
    assert man["counts"]["answers_rejected"] == checks["rejected"]
    assert man["failures"] == {"questions:near_duplicate_question": 6, "answers:answer_refusal": n_refused,
                               "answers:answer_off_topic": n_off}
    # what the viewer's rejected tab reads: id, item_id, stage, reason, and the texts judged
    for r in rejected:
        assert {"id", "item_id", "stage", "reason"} <= set(r) and r["stage"] in ("questions", "answers")
        assert r["question"]
    examples = rows(tmp_path, "examples")
    assert len(examples) == man["counts"]["examples"] == man["counts"]["answers"] == checks["done"]
    assert not any(e["output"] == PHOTOSYNTHESIS_ANSWER or "sorry" in e["output"] for e in examples)
    assert man["status"] == "complete" and res.unfinished == 0  # a check's drop is not a failure to retry

    # checks are re-judged every run and cost no call: turned off, every answer counts again;
    # the near-duplicates now get answered (their answers were never asked for)
    again = Faulty()
    _, man2 = run(tmp_path, cfg(answer_checks=False, question_dedup=False), again)
    assert dict(again.calls) == {"answer": 6}
    assert man2["counts"]["examples"] == 16 and man2["failures"] == {}
    assert man2["stages"]["answer_checks"]["rejected"] == {} and man2["counts"]["questions_near_duplicates"] == 0


def test_cli_rejects_an_unknown_truncation_policy(tmp_path):
    from conftest import run_cli

    r = run_cli("glan", "--out", str(tmp_path / "g"), "--truncated-answers", "sometimes")
    assert r.returncode == 2 and "--truncated-answers" in r.stderr and not (tmp_path / "g").exists()
