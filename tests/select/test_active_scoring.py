"""Prompt uncertainty: perturbations, the PU/PP formulas, scoring with hand-set logprobs, selection."""

from __future__ import annotations

import asyncio
import math
import random

import pytest

from instructkit.errors import ModelError, UnsupportedError
from instructkit.records import Example
from instructkit.select.active.uncertainty import (
    Instruction,
    ScoreConfig,
    build_messages,
    build_perturbations,
    ensure_can_score,
    perturb_text,
    prob_from_logprobs,
    prompt_uncertainty,
    sample_instances,
    score_task,
    select_tasks,
)
from instructkit.select.active.tasks_io import TaskBundle
from tests.scripted import ScriptedBackend, open_scripted


def make_task(tid: str = "t1", n: int = 6, words: int = 30, labels=None) -> TaskBundle:
    definition = " ".join(f"w{i}" for i in range(words))
    demos = [{"input": "demo input one two three four", "output": "demo output stays"}]
    insts = [Example(instruction=definition, input=f"x{i}", output=f"y{i}", meta={"task_id": tid}) for i in range(n)]
    return TaskBundle(id=tid, definition=definition, instances=insts, demonstrations=demos, label_space=labels)


# -- perturbation --------------------------------------------------------------------------
def test_drop_rate_within_tolerance_over_many_words():
    text = " ".join(f"word{i}" for i in range(20000))
    for p in (0.1, 0.2, 0.5):
        kept = perturb_text(text, p, random.Random(7)).split()
        rate = 1 - len(kept) / 20000
        assert abs(rate - p) < 0.015, (p, rate)


def test_drop_zero_and_one():
    rng = random.Random(0)
    assert perturb_text("a b\nc  d", 0.0, rng) == "a b\nc  d"
    assert perturb_text("a b c d", 1.0, rng) == ""


def test_kept_words_keep_order_and_line_breaks():
    text = "first line here\nsecond line here\nthird"
    out = perturb_text(text, 0.3, random.Random(3))
    words = text.split()
    kept = out.split()
    it = iter(words)
    assert all(w in it for w in kept)  # a subsequence: order preserved, nothing invented


def test_perturbations_reproduce_with_seed_and_differ_across_seeds():
    t = make_task(words=200)
    a = build_perturbations(t, 10, 0.2, seed=1)
    b = build_perturbations(t, 10, 0.2, seed=1)
    c = build_perturbations(t, 10, 0.2, seed=2)
    assert a == b
    assert a[1:] != c[1:]
    assert len(a) == 11
    assert len({ins.definition for ins in a[1:]}) == 10  # K distinct perturbations


def test_original_instruction_never_perturbed():
    t = make_task(words=50)
    for drop in (0.2, 1.0):
        ins = build_perturbations(t, 5, drop, seed=0)
        assert ins[0] == Instruction(t.definition, (("demo input one two three four", "demo output stays"),))
    full = build_perturbations(t, 5, 1.0, seed=0)
    assert all(i.definition == "" and i.demonstrations[0][0] == "" for i in full[1:])


def test_demonstration_outputs_are_kept_and_inputs_perturbed():
    t = make_task(words=40)
    t.demonstrations = [{"input": " ".join(f"d{i}" for i in range(60)), "output": "the answer"}]
    ins = build_perturbations(t, 4, 0.5, seed=0)
    for i in ins[1:]:
        assert i.demonstrations[0][1] == "the answer"
        assert len(i.demonstrations[0][0].split()) < 60


def test_perturbations_depend_only_on_task_and_seed():
    # the same task scored alone or among others gets the same perturbations
    t = make_task("same", words=80)
    other = make_task("other", words=80)
    build_perturbations(other, 10, 0.2, seed=0)
    assert build_perturbations(t, 10, 0.2, 0) == build_perturbations(make_task("same", words=80), 10, 0.2, 0)
    assert build_perturbations(t, 3, 0.2, 0)[1:] != build_perturbations(other, 3, 0.2, 0)[1:]


def test_sample_instances_seeded_without_replacement():
    t = make_task(n=30)
    a = sample_instances(t, 10, seed=5)
    assert a == sample_instances(t, 10, seed=5)
    assert len({e.id for e in a}) == 10
    assert sample_instances(t, 10, seed=6) != a
    assert sample_instances(make_task(n=4), 10, seed=0) == make_task(n=4).instances


def test_messages_hold_definition_demos_and_input():
    m = build_messages(Instruction("Do it.", (("in1", "out1"),)), "the input")
    assert m[0]["role"] == "user"
    text = m[0]["content"]
    assert text.index("Do it.") < text.index("in1") < text.index("out1") < text.index("the input")


# -- formulas --------------------------------------------------------------------------------
def test_prob_is_exp_of_mean_logprob():
    assert prob_from_logprobs([-1.0, -3.0]) == pytest.approx(math.exp(-2.0))
    with pytest.raises(ValueError):
        prob_from_logprobs([])


def test_pu_pp_on_hand_set_values():
    p = [[0.8, 0.6, 0.9, 0.8], [0.4, 0.1, 0.4, 0.7]]
    pu, pp = prompt_uncertainty(p)
    expected_pu = (0.2 + 0.1 + 0.0 + 0.3 + 0.0 + 0.3) / (2 * 3)
    assert pu == pytest.approx(expected_pu)
    assert pp == pytest.approx((0.8 + 0.4) / 2)
    with pytest.raises(ValueError):
        prompt_uncertainty([[0.5]])  # no perturbation


# -- scoring with a scripted backend behind the real door (pure unit tests of the arithmetic) ------
def scripted_llm(tmp_path, lp, can_score=True, answer="ans", score_error=None):
    """The door (with a cache) around a backend that answers every prompt greedily with ``answer``;
    its ``score`` returns the logprobs ``lp(first message's text)`` decides."""
    def greedy(req):
        assert req.temperature == 0.0
        return answer

    backend = ScriptedBackend(reply=greedy, can_score=can_score, score_error=score_error,
                              logprobs=lambda messages, continuation: lp(messages[0]["content"]))
    return open_scripted(backend, cache=tmp_path / "cache.sqlite")


def test_insensitive_task_scores_pu_zero(tmp_path):
    llm = scripted_llm(tmp_path, lambda prompt: [-0.5, -1.5])
    ts = asyncio.run(score_task(llm, make_task(n=5), ScoreConfig(instances=4, perturbations=3)))
    assert ts.n == 4
    assert ts.pu == pytest.approx(0.0, abs=1e-12)
    assert ts.pp == pytest.approx(math.exp(-1.0))
    assert ts.perplexity == pytest.approx(math.exp(1.0))
    assert llm.ledger.score_calls == 4 * 4 == len(llm.backend.scored) + llm.ledger.cache_hits
    assert llm.backend.n_calls == 4


def test_sensitive_task_pu_equals_formula(tmp_path):
    t = make_task(n=3, words=40)
    instrs = build_perturbations(t, 2, 0.2, 0)
    # the logprob depends on how many words of the definition survived: hand-set and known
    def lp(prompt):
        first = prompt.split("\n\n")[0]
        return [-(40 - len(first.split())) / 10 - 0.1, -0.3]
    ts = asyncio.run(score_task(scripted_llm(tmp_path, lp), t, ScoreConfig(instances=3, perturbations=2)))
    p = [[math.exp(sum(lp(build_messages(ins, "x")[0]["content"])) / 2) for ins in instrs]] * 3
    pu, pp = prompt_uncertainty(p)
    assert ts.pu == pytest.approx(pu) and ts.pu > 0
    assert ts.pp == pytest.approx(pp)
    assert ts.p[0][0] == pytest.approx(math.exp(-0.2), abs=1e-6)


def test_empty_answers_are_skipped_and_counted(tmp_path):
    llm = scripted_llm(tmp_path, lambda prompt: [-1.0], answer="  ")
    ts = asyncio.run(score_task(llm, make_task(n=3), ScoreConfig(instances=3, perturbations=2)))
    assert ts.n == 0 and ts.pu is None and ts.skipped == {"empty_answer": 3}


def test_backend_that_cannot_score_is_a_clear_error(tmp_path):
    with pytest.raises(UnsupportedError, match="cannot give token logprobs") as e:
        ensure_can_score(scripted_llm(tmp_path, lambda p: [-1.0], can_score=False))
    assert e.value.exit_code == 2
    refuse = ModelError("no prompt logprobs here", kind="unsupported")
    llm = scripted_llm(tmp_path, lambda p: [-1.0], score_error=refuse)
    with pytest.raises(UnsupportedError):
        asyncio.run(score_task(llm, make_task(), ScoreConfig(instances=2, perturbations=2)))


def test_score_key_changes_with_model_seed_and_task():
    t = make_task()
    cfg = ScoreConfig()
    k = cfg.key({"m": 1}, t)
    assert k == ScoreConfig().key({"m": 1}, make_task())
    assert k != cfg.key({"m": 2}, t)
    assert k != ScoreConfig(seed=1).key({"m": 1}, t)
    t2 = make_task()
    t2.instances[0].output = "changed"
    t2.instances[0].id = t2.instances[0].content_id()
    assert k != cfg.key({"m": 1}, t2)


# -- selection -------------------------------------------------------------------------------
def rows(n_cls=4, n_gen=6):
    out = []
    for i in range(n_cls + n_gen):
        out.append({"task_id": f"t{i:02d}", "kind": "classification" if i < n_cls else "generation",
                    "pu": (i * 7 % 10) / 10, "pp": 0.5, "perplexity": 1 + (i * 3 % 10)})
    return out


def test_uncertainty_picks_top_pu():
    picked, notes = select_tasks(rows(), 3, "uncertainty")
    all_pu = sorted((r["pu"] for r in rows()), reverse=True)
    assert [r["pu"] for r in picked] == all_pu[:3]
    assert [r["rank"] for r in picked] == [1, 2, 3] and not notes


def test_perplexity_strategies():
    hi, _ = select_tasks(rows(), 2, "high-perplexity")
    lo, _ = select_tasks(rows(), 2, "low-perplexity")
    ppl = sorted(r["perplexity"] for r in rows())
    assert [r["perplexity"] for r in lo] == ppl[:2]
    assert [r["perplexity"] for r in hi] == ppl[::-1][:2]


def test_random_is_seeded():
    a, _ = select_tasks(rows(), 4, "random", seed=1)
    assert a == select_tasks(rows(), 4, "random", seed=1)[0]
    assert [r["task_id"] for r in a] != [r["task_id"] for r in select_tasks(rows(), 4, "random", seed=2)[0]]


def test_cls_ratio_is_honoured():
    for ratio, k, want in ((0.5, 4, 2), (0.25, 4, 1), (0.0, 3, 0), (1.0, 3, 3)):
        picked, notes = select_tasks(rows(), k, "uncertainty", cls_ratio=ratio)
        assert len(picked) == k and not notes
        assert sum(r["kind"] == "classification" for r in picked) == want
        # within each kind, the picks are that kind's top PU
        cls_pu = sorted((r["pu"] for r in rows() if r["kind"] == "classification"), reverse=True)[:want]
        assert sorted((r["pu"] for r in picked if r["kind"] == "classification"), reverse=True) == cls_pu


def test_cls_ratio_shortfall_filled_with_note():
    picked, notes = select_tasks(rows(n_cls=1, n_gen=6), 4, "uncertainty", cls_ratio=0.75)
    assert len(picked) == 4 and sum(r["kind"] == "classification" for r in picked) == 1
    assert notes and "filled 2" in notes[0]


def test_k_larger_than_pool():
    picked, notes = select_tasks(rows(), 50, "uncertainty")
    assert len(picked) == 10 and "only 10" in notes[0]
