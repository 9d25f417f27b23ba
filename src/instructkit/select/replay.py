"""Continual-learning replay (Dynosaur §1.7): which earlier tasks to replay when training stage t.

Strategies, each choosing ``budget`` tasks from all tasks of stages 1..t-1:

* ``instruction-diverse`` (the paper's best): most diverse *instruction* embeddings;
* ``data-diverse``: most diverse per-task mean *instance* embeddings (input + output text, up to
  ``DATA_SAMPLE`` instances per task, seeded);
* ``similar``: earlier tasks whose instruction is closest (max cosine) to any of stage t's instructions;
* ``random``: a seeded sample.

Diversity is greedy **facility location** (maximize ``F(A) = 1/|V| Σ_{v∈V} max_{a∈A} max(0, cos(v, a))``
over the pool V; lazy-free plain greedy, since pools are tasks, not examples) or greedy **k-center**
(farthest-first from the pool medoid; minimizes the radius ``R(A) = max_v min_a (1 − cos(v, a))``).
Every replay set is reported with both objectives on instruction embeddings and F on data embeddings.

>>> import numpy as np
>>> E = np.eye(3, dtype=np.float32)
>>> greedy_facility_location(E, 2)
[0, 1]
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from instructkit.records import Example, Task, stable_hash
from instructkit.select.qdit.objective import facility_location

STRATEGIES = ("instruction-diverse", "data-diverse", "similar", "random")
OBJECTIVES = ("facility-location", "k-center")
DATA_SAMPLE = 32


def _sim(E: np.ndarray) -> np.ndarray:
    return np.clip(E @ E.T, 0.0, None)


def facility_location_value(E: np.ndarray, picked: list[int]) -> float:
    """F(A) = mean over the pool of the best (non-negative) cosine similarity to a picked item."""
    if not picked or len(E) == 0:
        return 0.0
    return facility_location(E, picked)  # the one D(A) QDIT reports too


def k_center_radius(E: np.ndarray, picked: list[int]) -> float:
    """R(A) = largest cosine distance from a pool item to its nearest picked item (lower = more spread)."""
    if not picked or len(E) == 0:
        return float("nan")
    return float((1.0 - (E @ E[picked].T).max(axis=1)).max())


def greedy_facility_location(E: np.ndarray, budget: int) -> list[int]:
    """Greedy maximization of F (ties: lowest index). Pools are task counts, so the dense matrix is fine."""
    n = len(E)
    if budget >= n:
        return list(range(n))
    S = _sim(E)
    best = np.zeros(n, dtype=np.float64)  # current max similarity of each pool item to the picks
    picked: list[int] = []
    for _ in range(budget):
        gains = np.maximum(S, best[None, :]).sum(axis=1) - best.sum()
        gains[picked] = -np.inf
        j = int(np.argmax(gains))
        picked.append(j)
        best = np.maximum(best, S[j])
    return picked


def greedy_k_center(E: np.ndarray, budget: int) -> list[int]:
    """Farthest-first traversal from the medoid (the item most similar to all others)."""
    n = len(E)
    if budget >= n:
        return list(range(n))
    S = E @ E.T
    picked = [int(np.argmax(S.sum(axis=1)))]
    dist = 1.0 - S[picked[0]]
    for _ in range(budget - 1):
        d = dist.copy()
        d[picked] = -np.inf
        j = int(np.argmax(d))
        picked.append(j)
        dist = np.minimum(dist, 1.0 - S[j])
    return picked


def instruction_vectors(tasks: list[Task], embedder: str) -> np.ndarray:
    from instructkit.embed import embed_texts

    return embed_texts([t.definition for t in tasks], embedder=embedder)


def data_vectors(tasks: list[Task], embedder: str, seed: int) -> np.ndarray:
    """Per-task mean of instance embeddings (``DATA_SAMPLE`` instances at most, seeded), re-normalized."""
    from instructkit.embed import embed_texts

    texts, owner = [], []
    for i, t in enumerate(tasks):
        insts = t.instances
        if len(insts) > DATA_SAMPLE:
            rng = random.Random(stable_hash("replay-data", seed, t.id))
            insts = [insts[j] for j in sorted(rng.sample(range(len(insts)), DATA_SAMPLE))]
        for e in insts:
            texts.append(f"{e.input}\n{e.output}".strip())
            owner.append(i)
    V = embed_texts(texts, embedder=embedder)
    out = np.zeros((len(tasks), V.shape[1] if len(V) else 384), dtype=np.float32)
    np.add.at(out, np.asarray(owner, dtype=int), V)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1.0)


@dataclass
class StagePlan:
    stage: int
    tasks: list[Task]
    replay: list[tuple[Task, int]] = field(default_factory=list)  # (task, stage it came from)
    metrics: dict[str, Any] = field(default_factory=dict)

    def train_examples(self, max_per_task: int = 0, seed: int = 0) -> list[Example]:
        """This stage's examples followed by the replayed tasks' examples (tagged ``meta.replay``)."""
        out = [e for t in self.tasks for e in t.training_examples()]
        for t, src in self.replay:
            exs = t.training_examples()
            if max_per_task and len(exs) > max_per_task:
                rng = random.Random(stable_hash("replay-take", seed, self.stage, t.id))
                exs = [exs[j] for j in sorted(rng.sample(range(len(exs)), max_per_task))]
            for e in exs:
                e.meta = {**e.meta, "replay": True, "replay_from_stage": src}
            out.extend(exs)
        return out


def choose(strategy: str, pool_instr: np.ndarray, pool_data: np.ndarray | None, new_instr: np.ndarray,
           budget: int, objective: str, rng: random.Random) -> list[int]:
    """Indices into the pool chosen by ``strategy`` (see the module docstring)."""
    n = len(pool_instr)
    if budget >= n:
        return list(range(n))
    if strategy == "random":
        return sorted(rng.sample(range(n), budget))
    if strategy == "similar":
        closeness = (pool_instr @ new_instr.T).max(axis=1) if len(new_instr) else np.zeros(n)
        return [int(i) for i in np.argsort(-closeness, kind="stable")[:budget]]
    E = pool_instr if strategy == "instruction-diverse" else pool_data
    assert E is not None
    return greedy_facility_location(E, budget) if objective == "facility-location" else greedy_k_center(E, budget)


def plan_replay(stages: list[list[Task]], budget: int, strategy: str = "instruction-diverse",
                objective: str = "facility-location", embedder: str = "minilm", seed: int = 0) -> list[StagePlan]:
    """One plan per stage; stage t > 1 replays ``budget`` tasks from stages 1..t-1.

    >>> plans = plan_replay([load_tasks(["s1"]), load_tasks(["s2"])], budget=5)   # doctest: +SKIP
    """
    flat = [t for s in stages for t in s]
    stage_of = [i + 1 for i, s in enumerate(stages) for _ in s]
    instr = instruction_vectors(flat, embedder)
    data = data_vectors(flat, embedder, seed)
    plans = [StagePlan(stage=1, tasks=stages[0])]
    start = len(stages[0])
    for t in range(2, len(stages) + 1):
        pool = list(range(start))
        new = list(range(start, start + len(stages[t - 1])))
        rng = random.Random(stable_hash("replay-random", seed, t))
        local = choose(strategy, instr[pool], data[pool], instr[new], budget, objective, rng)
        picked = [pool[i] for i in local]
        plan = StagePlan(stage=t, tasks=stages[t - 1], replay=[(flat[i], stage_of[i]) for i in picked])
        plan.metrics = {
            "pool_tasks": len(pool), "replayed_tasks": len(picked), "budget": budget,
            "instruction_facility_location": round(facility_location_value(instr[pool], local), 6),
            "instruction_k_center_radius": round(k_center_radius(instr[pool], local), 6),
            "data_facility_location": round(facility_location_value(data[pool], local), 6),
        }
        if len(picked) < budget:  # a request that cannot be met is said, not silently shrunk
            plan.metrics["note"] = (f"--budget {budget} but stages 1..{t - 1} hold only {len(pool)} tasks: "
                                    f"replayed {len(picked)}")
        plans.append(plan)
        start += len(stages[t - 1])
    return plans


def run_replay(stage_paths: list[str], out: str, budget: int, strategy: str = "instruction-diverse",
               objective: str = "facility-location", embedder: str = "minilm", seed: int = 0,
               task_field: str = "task_id", max_per_task: int = 0, argv: list[str] | None = None,
               skip_bad_rows: bool = False) -> dict[str, Any]:
    """Plan replay over the stages and write ``OUT/stage_<t>/train.jsonl`` + ``replay_tasks.jsonl``.

    Everything is recomputed deterministically on a re-run and written atomically. A ``budget``
    larger than the earlier tasks replays them all; the stage's summary then carries a ``note``.
    """
    from instructkit import ui
    from instructkit.errors import UserError
    from instructkit.runs import RunDir, atomic_write_jsonl, check_out_dir
    from instructkit.select.active.tasks_io import load_tasks

    if strategy not in STRATEGIES:
        raise UserError(f"--strategy {strategy}: use one of {', '.join(STRATEGIES)}")
    if objective not in OBJECTIVES:
        raise UserError(f"--objective {objective}: use one of {', '.join(OBJECTIVES)}")
    if len(stage_paths) < 2:
        raise UserError("give at least two stages (STAGE1 STAGE2 ...): replay starts at stage 2")
    from instructkit.embed import check_embedder

    check_embedder(embedder)  # before anything is written or loaded
    check_out_dir(out)
    bad_rows: list | None = [] if skip_bad_rows else None
    stages = [load_tasks([p], task_field, bad_rows=bad_rows) for p in stage_paths]
    seen: dict[str, int] = {}
    for i, s in enumerate(stages, 1):
        for t in s:
            if t.id in seen:
                raise UserError(f"task '{t.id}' is in stage {seen[t.id]} and stage {i}; a task belongs to one stage")
            seen[t.id] = i
    config = {"stages": list(stage_paths), "budget": budget, "strategy": strategy, "objective": objective,
              "embedder": embedder, "seed": seed, "max_per_task": max_per_task}
    with RunDir(out, command="replay", config=config, argv=argv) as run:
        from instructkit.rowcheck import reject_bad_rows

        n_bad = reject_bad_rows(run, bad_rows or [])
        ui.info(f"embedding {len(seen)} tasks' instructions and instances ({embedder}) ...")
        plans = plan_replay(stages, budget, strategy, objective, embedder, seed)
        summary: list[dict[str, Any]] = []
        for plan in plans:
            d = run.path / f"stage_{plan.stage}"
            n_ex = atomic_write_jsonl(d / "train.jsonl", (e.to_dict() for e in plan.train_examples(max_per_task, seed)))
            atomic_write_jsonl(d / "replay_tasks.jsonl", (
                {"task_id": t.id, "from_stage": src, "order": i + 1, "kind": t.kind,
                 "instances": len(t.instances), "definition": t.definition, "source": t.source}
                for i, (t, src) in enumerate(plan.replay)))
            summary.append({"stage": plan.stage, "stage_tasks": len(plan.tasks), "train_examples": n_ex,
                            "replay_task_ids": [t.id for t, _ in plan.replay], **plan.metrics})
        # the last stage's training set (its tasks + the replayed ones) is what a next command reads
        last = f"stage_{plans[-1].stage}/train.jsonl"
        run.finish(outputs={"examples": last, **{f"stage_{p.stage}": f"stage_{p.stage}/train.jsonl" for p in plans}},
                   counts={"stages": len(plans), "examples": sum(s["train_examples"] for s in summary),
                           "bad_rows": n_bad, "budget": budget,
                           "replayed": [st.get("replayed_tasks", 0) for st in summary[1:]]},
                   stages=summary)
    return {"stages": summary, "bad_rows": n_bad}
