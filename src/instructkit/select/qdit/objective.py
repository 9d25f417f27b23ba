"""The facility-location objective, in one place: every QDIT engine, GreeDi and replay score with it.

    f(A) = (1 − α) · D(A) + α · Q(A)
    D(A) = (1/|V|) · Σ_{v∈V} max_{a∈A} s(v, a)       s(v, a) = max(0, cos(v, a))
    Q(A) = (1/k)   · Σ_{a∈A} q'(a)                  q' = (q − min q) / (max q − min q) ∈ [0, 1]

The greedy engines work on the same objective with the weights folded in: a pool-point weight
``w = (1 − α)/N`` and a per-item quality ``q = α·q'/k``, so that ``w·N·D(A) + Σ_{a∈A} q(a) = f(A)``
(:func:`weighted_objective`). See :mod:`instructkit.select.qdit.select` for the reasons behind the scaling.

>>> import numpy as np
>>> X = np.eye(3, dtype=np.float32)
>>> round(facility_location(X, [0]), 4), quality_term(np.array([0.0, 1.0, 0.5]), [1, 2], 2)
(0.3333, 0.75)
"""

from __future__ import annotations

import numpy as np

from instructkit.errors import UserError


def dense_bytes(n: int) -> int:
    """Memory of the lazy engine's N×N float32 similarity matrix (its per-block maxima, N·N/64 float64,
    come on top; the engine thresholds were tuned on this figure, so they keep it)."""
    return 4 * int(n) * int(n)


def scale_quality(quality: np.ndarray | None, n: int) -> np.ndarray:
    """Min-max scale to [0, 1]; None or a constant score gives zeros (quality then has no say)."""
    if quality is None:
        return np.zeros(n, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64).reshape(-1)
    if q.shape[0] != n:
        raise UserError(f"quality has {q.shape[0]} scores for {n} examples")
    if not np.isfinite(q).all():
        raise UserError(f"quality score {int(np.argmax(~np.isfinite(q)))} is NaN or infinite")
    lo, hi = float(q.min()), float(q.max())
    return np.zeros(n) if hi <= lo else (q - lo) / (hi - lo)


def _pool_points(X: np.ndarray, sample: int | None, seed: int) -> np.ndarray:
    """The pool points D(A) averages over: all, or ``sample`` drawn at random (sorted, without replacement)."""
    if sample is not None and sample < len(X):
        return X[np.sort(np.random.default_rng(seed).choice(len(X), size=sample, replace=False))]
    return X


def facility_location(X: np.ndarray, picks: list[int] | np.ndarray, block_bytes: int = 128 << 20,
                      sample: int | None = None, seed: int = 0) -> float:
    """``D(A) = mean_v max_{a∈A} max(0, cos(v, a))`` computed in blocks (never N×k at once).

    ``sample``: average over that many pool points drawn at random (an unbiased estimate, for pools
    where N·k is too many cells); None = every point (exact).
    """
    X = np.asarray(X, dtype=np.float32)
    picks = np.asarray(picks, dtype=np.int64)
    if len(picks) == 0:
        return 0.0
    V = _pool_points(X, sample, seed)
    A = np.ascontiguousarray(X[picks].T)
    rows = int(max(16, block_bytes // (4 * len(picks))))
    total = 0.0
    for s in range(0, len(V), rows):
        M = V[s:s + rows] @ A
        total += float(np.maximum(M.max(axis=1), 0).sum(dtype=np.float64))
    return total / len(V)


def coverage_of_many(X: np.ndarray, selections: list[list[int]], sample: int | None, seed: int) -> list[float]:
    """D(A) of several selections on the same pool points (all, or ``sample`` random ones). One matmul
    against the union of their picks (selections overlap a lot), then a max per selection."""
    V = _pool_points(X, sample, seed)
    uniq, inv = np.unique(np.concatenate([np.asarray(p, dtype=np.int64) for p in selections]), return_inverse=True)
    bounds = np.cumsum([0] + [len(p) for p in selections])
    cols = [inv[bounds[j]:bounds[j + 1]] for j in range(len(selections))]
    A = np.ascontiguousarray(X[uniq].T)
    best = np.zeros((len(V), len(selections)), dtype=np.float32)
    rows = int(max(16, (64 << 20) // (4 * max(1, len(uniq)))))
    for s in range(0, len(V), rows):
        M = V[s:s + rows] @ A
        for j, c in enumerate(cols):
            best[s:s + rows, j] = M[:, c].max(axis=1)
    return [float(np.maximum(best[:, j], 0).sum(dtype=np.float64) / len(V)) for j in range(len(selections))]


def diversity_of(X: np.ndarray, picks: list[int] | np.ndarray, seed: int = 0,
                 max_cells: float = 5e8, sample: int = 20_000) -> tuple[float, bool]:
    """(D(A), exact?): exact when N·k ≤ ``max_cells``, else estimated on ``sample`` random pool points."""
    exact = len(X) * max(1, len(picks)) <= max_cells
    return facility_location(X, picks, sample=None if exact else sample, seed=seed), exact


def diversity_from_gains(gains: list[float], w: float, n: int) -> float:
    """D(A) of an exact greedy run at α = 0, where the gains are exactly ``w·N·D(A)`` summed."""
    return float(np.sum(gains, dtype=np.float64) / w / n)


def quality_term(qs: np.ndarray, picks: list[int] | np.ndarray, k: int) -> float:
    """``Q(A) = Σ_{a∈A} q'(a) / k`` for pool-scaled qualities ``qs``."""
    return float(qs[picks].sum() / k)


def qdit_objective(diversity: float, quality: float, alpha: float) -> float:
    """``f(A) = (1 − α)·D(A) + α·Q(A)``."""
    return (1 - alpha) * diversity + alpha * quality


def weighted_objective(diversity: float, picks: list[int] | np.ndarray, q: np.ndarray, w: float, n: int) -> float:
    """f(A) in the engines' weights (``w = (1 − α)/N``, ``q = α·q'/k``): ``w·N·D(A) + Σ q(a)``."""
    return w * n * diversity + float(q[picks].sum())


def selection_gains(X: np.ndarray, qs: np.ndarray, picks: np.ndarray, alpha: float, k: int) -> list[float]:
    """The gain of each pick of ``picks``, in order, under f (pool-scaled qualities ``qs``)."""
    best = np.zeros(len(X), dtype=np.float32)
    out = []
    for i in picks:
        s = np.maximum(X @ X[i], 0)
        out.append(float((1 - alpha) * np.maximum(s - best, 0).sum() / len(X) + alpha * qs[i] / k))
        best = np.maximum(best, s)
    return out
