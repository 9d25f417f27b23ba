"""GLAN concept draws: constraints, reproducibility, distinctness."""

from __future__ import annotations

import random

import pytest

from instructkit.generate.glan.sampler import (MAX_CONCEPTS, SINGLE, TWO, draw_one, draw_questions,
                                               question_seed)

SESSIONS = [[f"s{i}c{j}" for j in range(n)] for i, n in enumerate([5, 7, 1, 3, 10, 0, 2, 6])]


def _check(d, sessions):
    drawn_sessions = {s for s, _ in d.concepts}
    for s, c in d.concepts:
        assert c in sessions[s], "a concept must belong to the session it is attributed to"
    assert len(set(d.concepts)) == len(d.concepts)
    assert 1 <= len(d.concepts) <= MAX_CONCEPTS
    assert d.learned_up_to == max(d.sessions) + 1
    if d.strategy == SINGLE:
        assert len(d.sessions) == 1 and drawn_sessions == set(d.sessions)
    else:
        assert d.strategy == TWO
        assert len(d.sessions) == 2 and d.sessions[0] < d.sessions[1]
        assert 2 <= len(d.concepts) <= MAX_CONCEPTS
        assert drawn_sessions == set(d.sessions), "two-session draws need >=1 concept from each session"


def test_constraints_hold_over_many_draws():
    sizes, strategies = set(), set()
    for i in range(3000):
        d = draw_one(SESSIONS, random.Random(i), TWO if i % 2 else SINGLE)
        assert d.strategy == d.requested
        _check(d, SESSIONS)
        assert 5 not in d.sessions, "a session without concepts is never drawn"
        sizes.add((d.strategy, len(d.concepts)))
        strategies.add(d.strategy)
    # the whole range of sizes is reachable for both strategies
    assert {(SINGLE, k) for k in range(1, 6)} <= sizes
    assert {(TWO, k) for k in range(2, 6)} <= sizes


@pytest.mark.parametrize("ratio", [0.0, 0.3, 1.0])
def test_mix_ratio(ratio):
    draws = draw_questions("syl", SESSIONS, 400, seed=1, two_session_ratio=ratio)
    share = sum(d.strategy == TWO for d in draws) / len(draws)
    assert abs(share - ratio) < 0.08


def test_seeds_reproduce_and_differ():
    a = draw_questions("syl-a", SESSIONS, 50, seed=3)
    assert a == draw_questions("syl-a", SESSIONS, 50, seed=3)
    assert a != draw_questions("syl-a", SESSIONS, 50, seed=4)
    assert a != draw_questions("syl-b", SESSIONS, 50, seed=3)
    # growing n keeps the earlier questions' draws
    assert draw_questions("syl-a", SESSIONS, 80, seed=3)[:50] == a
    assert question_seed("x", 1, 0) != question_seed("x", 2, 0)


def test_no_two_questions_share_a_draw():
    draws = draw_questions("syl", SESSIONS, 300, seed=0)
    keys = [d.key for d in draws]
    assert all(d is not None for d in draws)
    assert len(set(keys)) == len(keys)
    # different questions get different draws even where the generator repeats: some needed a redraw
    assert any(d.attempt > 0 for d in draws)


def test_small_syllabus_runs_out_instead_of_repeating():
    tiny = [["only"]]  # exactly one possible draw
    draws = draw_questions("syl", tiny, 3, seed=0)
    assert draws[0] is not None and draws[0].concepts == ((0, "only"),)
    assert draws[1] is None and draws[2] is None


def test_two_session_falls_back_when_impossible():
    d = draw_questions("syl", [["a", "b"], []], 2, seed=0, two_session_ratio=1.0)
    assert all(x.strategy == SINGLE and x.requested == TWO for x in d)
    assert draw_questions("syl", [[], []], 2, seed=0) == [None, None]


def test_ratio_validated():
    with pytest.raises(ValueError):
        draw_questions("syl", SESSIONS, 1, seed=0, two_session_ratio=1.5)
