"""Replay selection algorithms on fixed vectors (the real-embedder comparison is in integration)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from instructkit.records import Example
from instructkit.select.replay import (
    StagePlan,
    choose,
    facility_location_value,
    greedy_facility_location,
    greedy_k_center,
    k_center_radius,
)
from instructkit.select.active.tasks_io import TaskBundle


def unit(rows):
    E = np.asarray(rows, dtype=np.float32)
    return E / np.linalg.norm(E, axis=1, keepdims=True)


def clusters(seed=0):
    rng = np.random.default_rng(seed)
    centers = np.eye(4)
    pts = [c + 0.05 * rng.standard_normal(4) for c in centers for _ in range(5)]
    return unit(pts)


def test_facility_location_greedy_covers_every_cluster():
    E = clusters()
    picked = greedy_facility_location(E, 4)
    assert sorted(i // 5 for i in picked) == [0, 1, 2, 3]


def test_facility_location_greedy_is_near_optimal_on_small_pool():
    E = clusters(1)[:10]
    best = max(facility_location_value(E, list(c)) for c in itertools.combinations(range(10), 3))
    got = facility_location_value(E, greedy_facility_location(E, 3))
    assert got >= (1 - 1 / np.e) * best and got <= best + 1e-9


def test_k_center_spreads_and_radius_shrinks():
    E = clusters()
    picked = greedy_k_center(E, 4)
    assert sorted(i // 5 for i in picked) == [0, 1, 2, 3]
    radii = [k_center_radius(E, greedy_k_center(E, b)) for b in (1, 2, 4, 8)]
    assert all(a >= b for a, b in zip(radii, radii[1:]))


def test_similar_picks_closest_to_new_stage():
    pool = clusters()
    new = unit([[0, 0, 1, 0.01]])
    got = choose("similar", pool, pool, new, 3, "facility-location", random.Random(0))
    assert all(10 <= i < 15 for i in got)


def test_budget_at_least_pool_takes_all():
    E = clusters()[:3]
    for s in ("instruction-diverse", "data-diverse", "similar", "random"):
        assert sorted(choose(s, E, E, E[:1], 5, "k-center", random.Random(0))) == [0, 1, 2]


def test_objective_values():
    E = unit([[1, 0], [0, 1]])
    assert facility_location_value(E, [0]) == pytest.approx(0.5)
    assert facility_location_value(E, [0, 1]) == pytest.approx(1.0)
    assert k_center_radius(E, [0]) == pytest.approx(1.0)


def test_stage_plan_train_examples_tags_replay():
    def task(tid, n):
        return TaskBundle(id=tid, definition=f"do {tid}", instances=[
            Example(instruction=f"do {tid}", input=str(i), output=str(i), meta={"task_id": tid}) for i in range(n)])
    plan = StagePlan(stage=2, tasks=[task("new", 2)], replay=[(task("old", 5), 1)])
    exs = plan.train_examples()
    assert len(exs) == 7 and sum(bool(e.meta.get("replay")) for e in exs) == 5
    assert {e.meta["replay_from_stage"] for e in exs if e.meta.get("replay")} == {1}
    capped = plan.train_examples(max_per_task=2, seed=0)
    assert len(capped) == 4 and capped == plan.train_examples(max_per_task=2, seed=0)
