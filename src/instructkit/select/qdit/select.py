"""QDIT: quality-diversity selection (Bukharin & Zhao et al., 2023), exactly as METHODS.md §3.

Greedily add ``argmax_c (1-α)·d(c|A) + α·q(c)``, i.e. maximize the monotone submodular

    f(A) = (1 − α) · D(A) + α · Q(A)
    D(A) = (1/|V|) · Σ_{v∈V} max_{a∈A} s(v, a)       s(v, a) = max(0, cos(v, a))
    Q(A) = (1/k)   · Σ_{a∈A} q'(a)                  q' = (q − min q) / (max q − min q) ∈ [0, 1]

**Scaling (ours, as the paper leaves it open).** ``s ∈ [0, 1]`` (cosine of unit embeddings, negatives
clipped) so ``D ∈ [0, 1]`` is the mean coverage of the pool; quality is min-max scaled over the pool
and summed over the picks divided by the budget ``k``, so ``Q ∈ [0, 1]`` is the mean scaled quality of
a full selection. Both terms live on the same [0, 1] scale, which makes α a real trade-off: diversity
gains are large for the first picks and shrink (submodular), while each pick adds ``α·q'/k`` of quality,
so with α in 0.5–0.9 early picks spread over the pool and later ones favour quality. A constant
quality (or ``quality=None``) gives ``q' = 0``: selection is then plain facility location.
α=1 returns the quality top-k (ties: lowest index); α=0 plain facility location.

Engines (``engine="auto"`` picks by pool size N; all break ties by lowest index):

* ``lazy`` (N ≤ 20,000, and up to 50,000 when the N×N matrix takes ≤ 35 % of the available memory):
  dense N×N similarities (half a matmul: the lower triangle by row panels, cluster-ordered so whole
  column blocks are skipped once covered) + a compiled heap of upper bounds; identical picks to naive
  greedy (:mod:`instructkit.select.qdit.lazy`).
* ``blocked`` (20,000 < N ≤ 50,000 when memory is short for ``lazy``): exact, never holds N×N
  (:mod:`instructkit.select.qdit.blocked`).
* ``approx`` (N > 50,000): faiss kNN graph + lazy greedy on the sparse objective
  (:mod:`instructkit.select.qdit.approx`). Reported D(A) is always the true (dense) facility
  location, exact up to N·k = 5·10⁸ cells, else estimated (unbiased) on 20K random pool points.

>>> import numpy as np
>>> X = np.eye(4, dtype=np.float32)
>>> qdit_select(X, np.array([0.1, 0.9, 0.5, 0.2]), k=2, alpha=1.0).indices
[1, 2]
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from instructkit.errors import UserError
from instructkit.select.qdit.lazy import GreedyResult, Progress, dense_similarity, lazy_greedy
from instructkit.select.qdit.objective import (  # noqa: F401  (facility_location, scale_quality: public here too)
    dense_bytes,
    diversity_from_gains,
    diversity_of,
    facility_location,
    qdit_objective,
    quality_term,
    scale_quality,
)

log = logging.getLogger(__name__)

ENGINES = ("auto", "lazy", "blocked", "approx")
LAZY_MAX_N = 20_000     # dense N×N float32 = 1.6 GB at 20K: always dense up to here
BLOCKED_MAX_N = 50_000  # above: exact costs minutes on 2 cores; go approximate
DENSE_AUTO_FRACTION = 0.35  # auto, 20K < N ≤ 50K: dense (lazy) when N×N float32 ≤ this share of free memory
DENSE_HARD_FRACTION = 0.85  # the lazy engine refuses a matrix bigger than this share of free memory


def available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux MemAvailable, else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 8 << 30


@dataclass
class Selection:
    """A QDIT selection. ``indices`` are in selection order; ``gains[i]`` is the gain of ``indices[i]``."""

    indices: list[int]
    gains: list[float]
    objective: float            # f(A) with the scaling above (exact diversity when computed)
    diversity: float            # D(A) = mean coverage of the pool
    quality_term: float         # Q(A) = Σ q' / k
    alpha: float
    engine: str
    quality_scaled: np.ndarray | None = None
    stats: dict[str, Any] = field(default_factory=dict)


def choose_engine(n: int, available: int | None = None) -> str:
    """The engine ``auto`` uses for a pool of ``n`` items (thresholds documented in the module).

    ``available``: bytes of free memory (default: measured now). Between 20K and 50K items the exact
    dense engine is ~5× faster than the blocked one (30K, 40K), so it is used whenever its matrix fits easily.
    """
    if n <= LAZY_MAX_N:
        return "lazy"
    if n > BLOCKED_MAX_N:
        return "approx"
    avail = available_memory() if available is None else available
    return "lazy" if dense_bytes(n) <= DENSE_AUTO_FRACTION * avail else "blocked"


def unit_rows(emb: np.ndarray) -> np.ndarray:
    """``emb`` as contiguous float32 with unit rows (a zero row is an error)."""
    X = np.asarray(emb, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] == 0:
        raise UserError(f"embeddings must be a non-empty 2-D array, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise UserError("embeddings contain NaN or inf values")
    norms = np.linalg.norm(X, axis=1)
    if (norms == 0).any():
        raise UserError(f"embedding row {int(np.argmax(norms == 0))} is all zeros; check its text")
    if np.abs(norms - 1).max() > 1e-3:
        X = X / norms[:, None]
    return np.ascontiguousarray(X, dtype=np.float32)


def approx_check(emb: np.ndarray, quality_scaled: np.ndarray | None, k: int, alpha: float, sub: int = 20_000,
                 seed: int = 0, **engine_options: Any) -> dict[str, Any]:
    """How close the approx engine comes to exact greedy: both run on one random subsample of the pool.

    ``sub`` pool rows are drawn at random (``seed``) with the budget scaled alike (``k·sub/N``) and the
    pool's own quality scale (``quality_scaled``, the q' of the whole pool); the approx engine and the
    exact lazy engine select from it and their objectives f(A) are compared (``ratio`` = approx ÷ exact,
    1.0 = as good as exact greedy). Costs one exact selection of ``sub`` items (≈ 1.6 GB at 20K).
    """
    import time

    n = len(emb)
    idx = np.sort(np.random.default_rng(seed).choice(n, size=min(int(sub), n), replace=False))
    Xs = unit_rows(np.asarray(emb)[idx])  # only the subsample is copied
    ks = max(1, round(k * len(idx) / n))
    qs = None if quality_scaled is None else np.asarray(quality_scaled, dtype=np.float64)[idx]
    out: dict[str, Any] = {"subsample": int(len(idx)), "k": int(ks)}
    for eng in ("approx", "lazy"):
        t0 = time.perf_counter()
        s = qdit_select(Xs, qs, ks, alpha=alpha, engine=eng, seed=seed, quality_scaled=qs is not None,
                        **(engine_options if eng == "approx" else {}))
        name = "exact" if eng == "lazy" else eng
        out[f"{name}_objective"] = s.objective
        out[f"{name}_s"] = round(time.perf_counter() - t0, 3)
    out["ratio"] = out["approx_objective"] / out["exact_objective"] if out["exact_objective"] > 0 else 1.0
    return out


def qdit_select(emb: np.ndarray, quality: np.ndarray | None, k: int, alpha: float = 0.7,
                engine: str = "auto", seed: int = 0, progress: Progress | None = None,
                knn: int = 64, nprobe: int = 8, quality_scaled: bool = False, evaluate: bool = True,
                **engine_options: Any) -> Selection:
    """Select ``k`` of the rows of ``emb`` (unit embeddings) by quality and diversity.

    ``quality``: one score per row (any scale; min-max scaled) or None. ``engine``: auto | lazy |
    blocked | approx. ``seed`` drives the stochastic parts (the approx engine's index training and
    the blocked engine's threshold sample, which never changes its picks). ``diversity`` is D(A)
    evaluated exactly afterwards, or estimated on 20K pool points when N·k > 5·10⁸ (``stats``).
    ``evaluate=False`` skips that evaluation where it is not free (diversity and objective are NaN;
    for benchmarks that score every contender the same way).

    >>> import numpy as np
    >>> X = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    >>> qdit_select(X, None, k=2, alpha=0.0).indices   # the duplicate adds nothing
    [0, 2]
    """
    if engine not in ENGINES:
        raise UserError(f"engine '{engine}' not understood; use one of {', '.join(ENGINES)}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise UserError(f"alpha must be in [0, 1], got {alpha}")
    X = unit_rows(emb)
    n = X.shape[0]
    if int(k) < 1:
        raise UserError(f"k must be at least 1, got {k}")
    k = min(int(k), n)
    # quality_scaled: the scores are already the pool's q' in [0, 1] (a part of a larger pool,
    # as in GreeDi, must keep the whole pool's scale rather than be re-scaled on its own)
    qs = (np.zeros(n) if quality is None else np.asarray(quality, dtype=np.float64)) if quality_scaled \
        else scale_quality(quality, n)
    used = choose_engine(n) if engine == "auto" else engine
    log.debug("qdit: pool %d, k %d, alpha %.3g, engine %s -> %s", n, k, alpha, engine, used)
    w = (1.0 - alpha) / n
    qterm = alpha * qs / k
    if alpha >= 1.0:  # the diversity term is gone: quality top-k, ties by lowest index
        order = np.lexsort((np.arange(n), -qs))[:k]
        res = GreedyResult([int(i) for i in order], [float(qterm[i]) for i in order], {})
        used = "topk"
        if progress:
            progress(k)
    elif used == "lazy":
        need, avail = dense_bytes(n), available_memory()
        if n > LAZY_MAX_N and need > DENSE_HARD_FRACTION * avail:
            raise UserError(f"the lazy engine builds an N×N matrix of {need / 2**30:.1f} GiB for N={n}, more than "
                            f"this machine can spare ({avail / 2**30:.1f} GiB available); use --engine blocked")
        res = lazy_greedy(dense_similarity(X), qterm, w, k, progress=progress)
    elif used == "blocked":
        from instructkit.select.qdit.blocked import blocked_greedy

        res = blocked_greedy(X, qterm, w, k, seed=seed, progress=progress, **engine_options)
    else:
        from instructkit.select.qdit.approx import approx_greedy

        res = approx_greedy(X, qterm, w, k, knn=knn, nprobe=nprobe, seed=seed, progress=progress, **engine_options)
    if used in ("lazy", "blocked") and alpha == 0.0:  # exact engines: D(A) is the sum of the gains
        div, exact = diversity_from_gains(res.gains, w, n), True
    elif evaluate:
        div, exact = diversity_of(X, res.picks, seed=seed)
    else:
        div, exact = float("nan"), False
    qt = quality_term(qs, res.picks, k)
    stats = dict(res.stats)
    stats["diversity_exact"] = exact
    return Selection(indices=[int(i) for i in res.picks], gains=[float(g) for g in res.gains],
                     objective=qdit_objective(div, qt, alpha), diversity=div, quality_term=qt,
                     alpha=float(alpha), engine=used, quality_scaled=qs, stats=stats)
