"""Exact greedy engines for the QDIT objective (facility location + a modular quality term).

Every engine maximizes, one pick at a time, the marginal gain

    gain(c | A) = w · Σ_v max(0, s(c, v) − cur[v]) + q[c],      cur[v] = max_{a∈A} s(v, a)  (0 when A = ∅)

with ``s = max(0, cos)`` on unit rows, ``w`` the weight of the diversity term and ``q`` the per-item
weighted quality (see :mod:`instructkit.select.qdit.select` for the scaling). Ties go to the lowest index.

* :func:`naive_greedy` — the reference: every gain, every step. For tests.
* :func:`lazy_greedy` — dense similarities + a heap of stale upper bounds (Minoux). Submodularity makes
  a stale gain an upper bound, so popping until the top is fresh returns exactly the naive picks,
  including ties (the heap orders equal bounds by original index).
* :func:`instructkit.select.qdit.blocked.blocked_greedy` — the same picks without ever holding N×N.

How the dense engine gets close to the cost of one ``X·Xᵀ`` (see :class:`DenseSim`):

1. **Half a matmul.** ``s`` is symmetric, so row panels of BLAS GEMMs compute one triangle (half the
   flops of ``X @ X.T``, :func:`lower_triangle_product`); one parallel pass mirrors it and records, per row and per column block of ``BLOCK``
   items, the block's maximum and sum of ``max(0, ·)`` (the sums are every first gain). Nothing is
   clipped: gains and coverage compare ``S`` with ``cur ≥ 0``, so a negative cosine counts as 0.
2. **Cluster-ordered layout.** Before the matmul the rows are put in the order of a quick spherical
   k-means (a few rounds, about one centroid per ``BLOCK`` items), so a column block holds similar items.
3. **Block skipping.** A gain evaluation skips every block whose maximum for that row is ≤ the smallest
   coverage ``min cur`` in the block: such a block adds exactly 0. Once a cluster is covered, every
   row's evaluation skips its blocks, so late evaluations read a small part of the row.
4. The greedy loop (heap, evaluations, coverage updates) is compiled with numba.

The layout changes only the order in which a row's terms are added (float rounding); ties still go to
the lowest *original* index, and naive and lazy greedy share one gain kernel, so they agree bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from instructkit.errors import UserError

Progress = Callable[[int], None]

BLOCK = 64          # items per column block (skip granularity)
_CHUNK = 64         # greedy steps per compiled call (progress granularity)
_BOUND_SLACK = 1e-5  # first gains from the block sums are inflated by this: they must stay upper bounds


@dataclass
class GreedyResult:
    """Picks in selection order with the gain each one added (``gains[i]`` is for ``picks[i]``)."""

    picks: list[int]
    gains: list[float]
    stats: dict[str, float] = field(default_factory=dict)


def numba_threads(limit: int) -> int:
    """Threads for the compiled kernels: ``INSTRUCTKIT_THREADS`` if set, else the cores idle right now
    (the embedded model's rule, ``llm.local``), at most ``limit`` (numba's pool size).

    numba's default (every core) spins on cores other work is using: on a busy machine the exact
    engine ran 11-38x slower (16 s vs 0.5 s with one thread). A ``NUMBA_NUM_THREADS`` the user set
    is left as it is.
    """
    import os

    env = os.environ.get("INSTRUCTKIT_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return max(1, min(int(env), limit))
    if os.environ.get("NUMBA_NUM_THREADS"):
        return limit
    from instructkit.llm.local import _idle_cores

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    idle = _idle_cores(cores, interval=0.05)
    usable = cores if idle is None else int(idle + 0.35)
    return max(1, min(usable, limit))


_THREADS: dict[str, int] = {}


def _nb():
    try:
        import numba

        from instructkit.select.qdit import _kernels as _fl_kernels
    except ImportError as e:  # pragma: no cover - numba is part of the select extra
        raise UserError("the exact QDIT engines need numba and scipy; run: pip install 'instructkit[select]'") from e
    import os

    key = os.environ.get("INSTRUCTKIT_THREADS", "") + "|" + os.environ.get("NUMBA_NUM_THREADS", "")
    if key not in _THREADS:  # measure idle cores once per setting, not at every kernel call
        _THREADS[key] = numba_threads(int(numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(_THREADS[key])
    return _fl_kernels


@dataclass
class DenseSim:
    """``X Xᵀ`` laid out in cluster order, with per-block maxima and every row's sum of ``max(0, ·)``.

    ``S[i, j]`` is the cosine of original items ``order[i]`` and ``order[j]``; negative entries are kept
    (every engine compares ``S`` with a coverage ≥ 0, so they count as 0). ``bmax[i, b]`` is the
    largest ``S[i, v]`` over column block ``b``; ``first[i] = Σ_v S[i, v]`` (float64 from float32 block sums).
    """

    S: np.ndarray
    order: np.ndarray
    bmax: np.ndarray
    first: np.ndarray
    block: int = BLOCK

    @property
    def n(self) -> int:
        return int(self.S.shape[0])

    def similarity(self) -> np.ndarray:
        """The matrix in original order (a copy: tests and small pools only)."""
        inv = np.empty_like(self.order)
        inv[self.order] = np.arange(self.n)
        return np.maximum(self.S[np.ix_(inv, inv)], 0)

    @classmethod
    def from_matrix(cls, S: np.ndarray, block: int = BLOCK) -> DenseSim:
        """Wrap an existing symmetric non-negative matrix (original order kept)."""
        S = np.ascontiguousarray(S, dtype=np.float32)
        bmax, bsum = _nb().block_stats(S, block)
        return cls(S, np.arange(S.shape[0], dtype=np.int64), bmax, bsum.sum(axis=1, dtype=np.float64), block)


def cluster_order(X: np.ndarray, per: int = 256, rounds: int = 2, seed: int = 0) -> np.ndarray:
    """A permutation that puts similar rows next to each other: items sorted by a quick spherical k-means
    (one centroid per ``per`` items, seeded from a fixed sample, ``rounds`` assignments). Only speed
    depends on it."""
    n = X.shape[0]
    m = max(1, n // per)
    if m < 2:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    C = X[np.sort(rng.choice(n, size=m, replace=False))].copy()
    labels = np.zeros(n, dtype=np.int64)
    for r in range(rounds):
        for s in range(0, n, 16384):
            labels[s:s + 16384] = np.argmax(X[s:s + 16384] @ C.T, axis=1)
        if r == rounds - 1:
            break
        C = np.zeros_like(C)
        np.add.at(C, labels, X)
        norms = np.linalg.norm(C, axis=1)
        empty = norms == 0
        C[empty] = X[rng.choice(n, size=int(empty.sum()), replace=False)]
        norms[empty] = 1.0
        C /= norms[:, None]
    return np.argsort(labels, kind="stable").astype(np.int64)


def lower_triangle_product(X: np.ndarray, panel: int = 1024) -> np.ndarray:
    """``X Xᵀ`` with (at least) its lower triangle filled, in about half the flops of the full product.

    Row panels of ``panel`` rows each multiply only the columns up to the panel's end, written straight
    into the result by BLAS (no temporary). Not BLAS ``syrk``: OpenBLAS 0.3.30's threaded ``ssyrk``
    crashes (segfault) from about N = 28,000 at d = 384; the panels are as fast.
    """
    n = X.shape[0]
    S = np.empty((n, n), dtype=np.float32)
    for a in range(0, n, panel):
        b = min(n, a + panel)
        np.matmul(X[a:b], X[:b].T, out=S[a:b, :b])
    return S


def dense_similarity(X: np.ndarray, reorder: bool = True, block: int = BLOCK, seed: int = 0) -> DenseSim:
    """The dense similarity structure of unit rows ``X`` (N×N float32: for pools up to a few 10K items)."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    n = X.shape[0]
    order = cluster_order(X, seed=seed) if reorder else np.arange(n, dtype=np.int64)
    Xo = np.ascontiguousarray(X[order]) if reorder else X
    # the lower triangle (panels of 16 blocks), which the kernel mirrors into the upper one in place
    S = lower_triangle_product(Xo, panel=16 * block)
    bmax, bsum = _nb().mirror_clip_stats(S, block)
    return DenseSim(S, order, bmax, bsum.sum(axis=1, dtype=np.float64), block)


def _as_dense(D: DenseSim | np.ndarray) -> DenseSim:
    return D if isinstance(D, DenseSim) else DenseSim.from_matrix(D)


def naive_greedy(D: DenseSim | np.ndarray, q: np.ndarray, w: float, k: int) -> GreedyResult:
    """Reference greedy: recompute every remaining gain at every step (O(k·N²)). Tests only."""
    D = _as_dense(D)
    k = min(int(k), D.n)
    qo = np.ascontiguousarray(np.asarray(q, dtype=np.float64)[D.order])
    picks, gains = _nb().naive(D.S, D.bmax, D.block, qo, float(w), k, D.order)
    return GreedyResult([int(D.order[p]) for p in picks], [float(g) for g in gains])


def lazy_greedy(D: DenseSim | np.ndarray, q: np.ndarray, w: float, k: int,
                progress: Progress | None = None, batch: int = 16) -> GreedyResult:
    """Lazy greedy on dense similarities: identical picks and gains to :func:`naive_greedy`.

    ``batch``: how many stale candidates may be evaluated at once on all threads while evaluations
    read most of a row (1 = strictly one at a time; the picks do not depend on it)."""
    nb = _nb()
    D = _as_dense(D)
    n = D.n
    k = min(int(k), n)
    qo = np.ascontiguousarray(np.asarray(q, dtype=np.float64)[D.order])
    # first gains as upper bounds (stale: the first pick is still evaluated by the shared kernel)
    bound = (float(w) * D.first + qo) * (1.0 + _BOUND_SLACK) + _BOUND_SLACK * (abs(float(w)) + 1e-300)
    state = nb.LazyState(n, D.bmax.shape[1])
    nb.lazy_init(state.keys, state.ids, state.meta, bound, D.order)
    picks = np.empty(k, dtype=np.int64)
    gains = np.empty(k, dtype=np.float64)
    done = 0
    while done < k:
        upto = min(k, done + _CHUNK)
        nb.lazy_steps(D.S, D.bmax, D.block, qo, float(w), D.order, state.cur, state.mincur, state.keys,
                      state.ids, state.meta, state.fresh, done, upto, picks, gains, int(batch))
        if progress:
            progress(upto - done)
        done = upto
    cells = float(state.meta[2])
    return GreedyResult([int(D.order[p]) for p in picks], [float(g) for g in gains],
                        {"evaluations": float(state.meta[1]),
                         "read_fraction": cells / max(1.0, float(state.meta[1]) * n)})

