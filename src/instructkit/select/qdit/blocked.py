"""Blocked exact greedy: the exact QDIT picks for pools too big for an N×N matrix.

Memory stays O(N·keep + block·N): similarities are computed block by block with BLAS and never
stored whole. The work is one pass of ``X Xᵀ`` (the floor of any exact engine) plus the few
extra rows lazy evaluation needs. How:

1. **One pass over row blocks** gives every first gain ``Σ_v s(c, v)`` exactly, and keeps per row
   its largest similarities (CSR, about ``keep`` per row) with a threshold ``tau[c]`` that bounds
   every similarity *not* kept.
2. **Split each gain** into a sparse part over the kept neighbours ``L_c`` (cheap: O(keep) with the
   current coverage ``cur``) and a residual over the rest. The residual only shrinks as ``cur``
   grows, and it is 0 once every ``cur[v] ≥ tau[c]``; so ``min(last residual, H(tau[c]))`` with
   ``H(τ) = Σ_v max(0, τ − cur[v])`` (from a sorted copy of ``cur``) bounds it.
3. **Lazy greedy on bounds**: pop the best bound; refresh it cheaply (sparse part + residual
   bound). When the residual bound is 0 the gain is exact. When a refreshed bound is still on top,
   it and the next stale entries are evaluated exactly *together* with one matmul restricted to
   the still-uncovered columns ``{v : cur[v] < tau}`` (kept compacted between batches).

A pick is made only when its gain is exact and no other bound is higher (ties: lowest index), which
is the naive greedy rule, so the picks are the exact greedy picks (up to float rounding of sums).
"""

from __future__ import annotations

import heapq

import numpy as np

from instructkit.select.qdit.lazy import GreedyResult, Progress


def _block_rows(n: int, budget_bytes: int) -> int:
    return int(max(8, min(2048, budget_bytes // max(1, 4 * n))))


class _Neighbours:
    """Per-row kept similarities (CSR) and a threshold ``tau[c]`` ≥ every similarity not kept."""

    def __init__(self, n: int):
        self.n = n
        self.indptr = np.zeros(n + 1, dtype=np.int64)
        self.tau = np.zeros(n, dtype=np.float32)
        self.kept_sum = np.zeros(n, dtype=np.float64)  # Σ of each row's kept similarities
        self._idx: list[np.ndarray] = []
        self._sim: list[np.ndarray] = []

    def add_block(self, start: int, S: np.ndarray, keep: int, rng: np.random.Generator) -> None:
        b, n = S.shape
        # a per-row threshold from a column sample keeps about `keep` entries per row, in one pass
        cols = rng.choice(n, size=min(n, 1024), replace=False)
        rank = max(1, int(round(len(cols) * keep / n)))
        thr = np.partition(S[:, cols], len(cols) - rank, axis=1)[:, len(cols) - rank]
        thr = np.maximum(thr, 1e-6).astype(np.float32)  # zeros are never worth keeping
        mask = S > thr[:, None]
        counts = mask.sum(axis=1)
        heavy = np.nonzero(counts > 4 * keep)[0]
        for r in heavy:  # a dense row: keep its top 4·keep, raising its threshold accordingly
            row = S[r]
            top = np.argpartition(row, n - 4 * keep)[n - 4 * keep:]
            t = float(row[top].min())
            mask[r] = False
            mask[r, top[row[top] > t]] = True
            thr[r] = t
        rows, cols_ = np.nonzero(mask)
        counts = np.bincount(rows, minlength=b)
        vals = S[rows, cols_]
        self.indptr[start + 1: start + b + 1] = counts
        self.tau[start: start + b] = thr
        self.kept_sum[start: start + b] = np.bincount(rows, weights=vals, minlength=b)
        self._idx.append(cols_.astype(np.int32))
        self._sim.append(vals)

    def finish(self) -> None:
        np.cumsum(self.indptr, out=self.indptr)
        self.idx = np.concatenate(self._idx) if self._idx else np.zeros(0, np.int32)
        self.sim = np.concatenate(self._sim) if self._sim else np.zeros(0, np.float32)
        del self._idx, self._sim

    def row(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.indptr[c], self.indptr[c + 1]
        return self.idx[a:b], self.sim[a:b]


class _Coverage:
    """``cur`` plus a sorted copy (refreshed now and then) for the residual bound ``H``.

    A stale sorted copy is still safe: ``cur`` only grows, so H from older values is larger.
    """

    def __init__(self, n: int):
        self.cur = np.zeros(n, dtype=np.float32)
        self.refresh()

    def refresh(self) -> None:
        self._sorted = np.sort(self.cur).astype(np.float64)
        self._prefix = np.concatenate([[0.0], np.cumsum(self._sorted)])

    def H(self, tau: float) -> float:
        j = int(np.searchsorted(self._sorted, tau, side="left"))
        return max(0.0, j * tau - float(self._prefix[j]))


def blocked_greedy(X: np.ndarray, q: np.ndarray, w: float, k: int, *, block_bytes: int = 256 << 20,
                   keep: int = 0, batch: int = 64, seed: int = 0,
                   progress: Progress | None = None) -> GreedyResult:
    """Exact greedy picks of the QDIT gain on unit rows ``X`` without an N×N matrix.

    ``block_bytes`` bounds the temporary similarity block, ``keep`` the neighbours kept per row
    (0 = auto: N/5 clamped to [64, 2048]; more kept means fewer exact row evaluations later),
    ``batch`` how many stale candidates share one exact evaluation. ``seed`` only drives the
    column sample that sets the per-row thresholds: it changes speed, never the picks.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    n = X.shape[0]
    k = min(k, n)
    q = np.asarray(q, dtype=np.float64)
    rng = np.random.default_rng(seed)
    keep = int(keep) if keep else int(min(2048, max(64, n // 5)))
    nb = _Neighbours(n)
    first = np.empty(n, dtype=np.float64)
    rows = _block_rows(n, block_bytes)
    for s in range(0, n, rows):
        S = X[s:s + rows] @ X.T
        np.maximum(S, 0, out=S)
        first[s:s + rows] = S.sum(axis=1, dtype=np.float64)
        nb.add_block(s, S, keep, rng)
        del S
    nb.finish()
    resid = np.maximum(first - nb.kept_sum, 0.0)
    ub = w * first + q
    heap = [(-float(ub[c]), c) for c in range(n)]
    heapq.heapify(heap)
    fresh = np.zeros(n, dtype=np.int64)  # exact at step 0
    refined = np.full(n, -1, dtype=np.int64)
    cov = _Coverage(n)
    cur = cov.cur
    tau = nb.tau.astype(np.float64)
    picks: list[int] = []
    gains: list[float] = []
    stats = {"dense_rows": 0.0, "dense_cells": 0.0, "refreshes": 0.0, "column_rebuilds": 0.0}

    def sparse_gain(c: int) -> float:
        idx, sim = nb.row(c)
        return float(np.maximum(sim - cur[idx], 0).sum(dtype=np.float64))

    # Columns that exact evaluations must cover: every v with cur[v] < tau[c]. One superset for most
    # candidates, U = {v : cur[v] < T} with T the 98th percentile of tau, is kept compacted (X[U] contiguous) and rebuilt only
    # when it has shrunk by a third, so a batch costs one matmul and no gather.
    T = float(np.quantile(tau, 0.98)) if n else 0.0  # rarer, higher-tau rows gather their own columns
    ucache: dict[str, object] = {"size": -1}

    def columns(tmax: float) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray | None]:
        if tmax > T:  # this batch needs columns the shared set may lack
            U = np.nonzero(cur < tmax)[0]
            if len(U) > 0.6 * n:
                return None, X, cur, None
            pos = np.full(n, -1, dtype=np.int64)
            pos[U] = np.arange(len(U))
            return U, X[U], cur[U], pos
        live = int(np.count_nonzero(cur < T))
        if ucache["size"] < 0 or live < 0.67 * ucache["size"]:
            if live > 0.6 * n:
                ucache.update(size=n, U=None, XU=X, pos=None)
            else:
                U = np.nonzero(cur < T)[0]
                pos = np.full(n, -1, dtype=np.int64)
                pos[U] = np.arange(len(U))
                ucache.update(size=len(U), U=U, XU=np.ascontiguousarray(X[U]), pos=pos)
            stats["column_rebuilds"] += 1
        U = ucache["U"]
        return U, ucache["XU"], cur if U is None else cur[U], ucache["pos"]  # type: ignore[return-value]

    def evaluate(cands: list[int], step: int, best: dict) -> None:
        U, XU, curU, pos = columns(float(tau[cands].max()))
        # (columns × batch) orientation: BLAS runs this skinny product ~1.5× faster than its transpose
        S = XU @ X[cands].T
        np.maximum(S, 0, out=S)
        D = S - curU[:, None]
        np.maximum(D, 0, out=D)
        stats["dense_rows"] += len(cands)
        stats["dense_cells"] += len(cands) * XU.shape[0]
        for i, c in enumerate(cands):
            idx, _ = nb.row(c)
            p = idx if pos is None else pos[idx]
            D[p[p >= 0], i] = 0.0  # kept neighbours are counted by the sparse part
        R = D.sum(axis=0, dtype=np.float64)
        for i, c in enumerate(cands):
            resid[c] = float(R[i])
            ub[c] = w * (float(R[i]) + sparse_gain(c)) + q[c]
            fresh[c] = step
            # the heap's order (higher bound, then lower index) among this step's exact rows: if the
            # step's pick was evaluated here, it is this one, so only its row is kept (memory: one row)
            if (float(ub[c]), -c) > (best.get("ub", -np.inf), -best.get("c", -1)):
                best.update(ub=float(ub[c]), c=c, U=U, row=S[:, i].copy())
            heapq.heappush(heap, (-float(ub[c]), c))

    for step in range(k):
        if step % 8 == 1:
            cov.refresh()
        best: dict = {}  # the exactly evaluated candidate with the highest gain so far (memory: one row)
        while True:
            neg, c = heapq.heappop(heap)
            if fresh[c] == step:
                break
            stats["refreshes"] += 1
            sp = sparse_gain(c)
            rb = min(float(resid[c]), cov.H(float(tau[c])))
            if rb <= 0.0:
                resid[c] = 0.0
                ub[c] = w * sp + q[c]
                fresh[c] = step
                heapq.heappush(heap, (-float(ub[c]), c))
            elif refined[c] != step:
                refined[c] = step
                ub[c] = w * (sp + rb) + q[c]
                heapq.heappush(heap, (-float(ub[c]), c))
            else:  # a refreshed bound still on top: evaluate it and the next stale ones exactly
                cands = [c]
                while heap and len(cands) < batch and fresh[heap[0][1]] != step:
                    cands.append(heapq.heappop(heap)[1])
                evaluate(cands, step, best)
        picks.append(c)
        gains.append(-neg)
        fresh[c] = -2
        idx, sim = nb.row(c)
        cur[idx] = np.maximum(cur[idx], sim)
        if best.get("c") == c:  # evaluated this step (then it is `best`): its exact row over every
            # column that could still change
            U, row = best["U"], best["row"]
            if U is None:
                np.maximum(cur, row, out=cur)
            else:
                cur[U] = np.maximum(cur[U], row)
        elif step == 0:  # picked on its first-pass gain: its full row is needed once
            row = X @ X[c]
            np.maximum(cur, np.maximum(row, 0), out=cur)
        # else: exact by the sparse part alone, i.e. no column outside L_c can change
        if progress:
            progress(1)
    stats["dense_fraction"] = stats["dense_cells"] / float(n) / float(n)
    return GreedyResult(picks, gains, stats)
