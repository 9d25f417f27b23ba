"""QDIT over pools too large for one machine: GreeDi (Mirzasoleiman et al., 2013) on Ray.

1. **partition**: the pool is split into ``m`` random parts (seeded), one Ray task each;
2. **local greedy**: each task runs QDIT's own ``qdit_select`` on its part (k picks, its engine);
3. **greedy over the union** of the ``m·k`` local picks, on the driver;
4. the answer is the best, by the *global* objective, of the union's selection and the ``m``
   local ones (GreeDi's rule; it keeps the approximation guarantee).

Quality is min-max scaled once over the whole pool (the local runs get the pool's scale, not
their part's), and every candidate is scored by the global objective
``(1−α)·D(A) + α·Σq'(A)/k`` with ``D`` the facility location over the *whole* pool.
With ``m = 1`` (a pool that fits one partition) this is exactly single-machine QDIT.
``stats["greedi"]`` records the parts, the union size and each candidate's objective.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PARTITION_SIZE = 50_000  # the exact blocked engine's comfortable size on one worker


def auto_partitions(n: int, workers: int, partition_size: int = PARTITION_SIZE) -> int:
    """Parts for a pool of ``n``: one when it fits a worker (exact QDIT), else enough to fit."""
    return max(1, -(-n // partition_size))


def _local_greedy(X: np.ndarray, qs: np.ndarray, part: np.ndarray, k: int, alpha: float, engine: str,
                  seed: int) -> np.ndarray:
    from instructkit.select.qdit.select import qdit_select

    sel = qdit_select(X[part], qs[part], k, alpha=alpha, engine=engine, seed=seed, quality_scaled=True)
    return part[np.asarray(sel.indices, dtype=np.int64)]


def selector(executor: Any, partitions: int | None = None) -> Any:
    """A ``qdit_select``-compatible function for ``executor``: ``qdit_select`` itself on this process,
    GreeDi over ``partitions`` parts (auto: by pool size) when the executor runs stages remotely (Ray)."""
    from instructkit.select.qdit.select import qdit_select

    if executor is None or not executor.remote:
        return qdit_select
    workers = executor.workers

    def select(emb: Any, quality: Any, k: int, **kw: Any) -> Any:
        return greedi_select(emb, quality, k, partitions=partitions, workers=workers, **kw)

    return select


def greedi_select(emb: np.ndarray, quality: np.ndarray | None, k: int, alpha: float = 0.7,
                  engine: str = "auto", seed: int = 0, progress: Any = None, partitions: int | None = None,
                  workers: int = 2, **_: Any) -> Any:
    """``qdit_select``'s contract (returns a ``Selection``), computed GreeDi-style on Ray."""
    import ray

    from instructkit.select.qdit.objective import (diversity_of, qdit_objective, quality_term, scale_quality,
                                                   selection_gains)
    from instructkit.select.qdit.select import Selection, qdit_select, unit_rows

    X = unit_rows(emb)
    n = len(X)
    m = int(partitions or auto_partitions(n, workers))
    if m <= 1 or alpha >= 1.0:  # fits one machine (or pure top-k): exactly single-machine QDIT
        task = ray.remote(qdit_select).options(num_cpus=1)
        sel = ray.get(task.remote(X, quality, k, alpha=alpha, engine=engine, seed=seed))
        if progress:
            progress(len(sel.indices))
        sel.stats["greedi"] = {"partitions": 1}
        return sel
    k = min(int(k), n)
    qs = scale_quality(quality, n)
    parts = np.array_split(np.random.default_rng(seed).permutation(n), m)
    x_ref, q_ref = ray.put(X), ray.put(qs)
    task = ray.remote(_local_greedy).options(num_cpus=1)
    local = ray.get([task.remote(x_ref, q_ref, np.sort(p), min(k, len(p)), alpha, engine, seed) for p in parts])
    union = np.unique(np.concatenate(local))
    final = qdit_select(X[union], qs[union], k, alpha=alpha, engine=engine, seed=seed, quality_scaled=True)
    picked = union[np.asarray(final.indices, dtype=np.int64)]

    def objective(picks: np.ndarray) -> tuple[float, float, float]:
        div, _ = diversity_of(X, picks, seed=seed)
        qt = quality_term(qs, picks, k)
        return qdit_objective(div, qt, alpha), div, qt

    cands = [("union", picked, list(final.gains))] + [(f"part{i}", p, []) for i, p in enumerate(local)]
    scored = [(name, picks, gains, *objective(picks)) for name, picks, gains in cands]
    name, picks, gains, obj, div, qt = max(scored, key=lambda t: (t[3], t[0] == "union"))
    if not gains:  # a local solution won: its gains under the global objective, recomputed in order
        gains = selection_gains(X, qs, picks, alpha, k)
    if progress:
        progress(len(picks))
    stats = {"greedi": {"partitions": m, "part_sizes": [len(p) for p in parts], "union": int(len(union)),
                        "chosen": name, "objectives": {s[0]: s[3] for s in scored}},
             "engine": final.engine}
    return Selection(indices=[int(i) for i in picks], gains=[float(g) for g in gains], objective=obj,
                     diversity=div, quality_term=qt, alpha=float(alpha), engine=f"greedi({final.engine})",
                     quality_scaled=qs, stats=stats)

