"""Compiled (numba) kernels of the facility-location engines. Importing this module needs numba.

Heaps here are max-heaps of ``(key, id)`` where equal keys go to the lower *original* index
``order[id]``: the tie rule of every engine. Compiled functions are cached on disk by numba.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

_FAST = {"reassoc", "nsz", "arcp"}  # lets the row reductions vectorize; no NaN/inf assumptions


class LazyState:
    """Arrays carried between chunks of lazy greedy steps (meta = [heap size, evaluations, cells read])."""

    def __init__(self, n: int, nblocks: int):
        self.cur = np.zeros(n, dtype=np.float32)
        self.mincur = np.zeros(nblocks, dtype=np.float32)
        self.keys = np.empty(n, dtype=np.float64)
        self.ids = np.empty(n, dtype=np.int64)
        self.meta = np.zeros(3, dtype=np.int64)
        self.fresh = np.full(n, -1, dtype=np.int64)


# --- heap ---------------------------------------------------------------------------------------

@njit(cache=True, inline="always", nogil=True)
def _before(ka, ia, kb, ib, order):
    return ka > kb or (ka == kb and order[ia] < order[ib])


@njit(cache=True, inline="always", nogil=True)
def _swap_if_before(keys, ids, a, b, order):
    """Swap heap slots a and b when a's entry must come first; True if swapped."""
    if _before(keys[a], ids[a], keys[b], ids[b], order):
        keys[a], keys[b] = keys[b], keys[a]
        ids[a], ids[b] = ids[b], ids[a]
        return True
    return False


@njit(cache=True, nogil=True)
def _sift_down(keys, ids, size, pos, order):
    while True:
        left = 2 * pos + 1
        if left >= size:
            return
        best = left
        right = left + 1
        if right < size and _before(keys[right], ids[right], keys[left], ids[left], order):
            best = right
        if not _swap_if_before(keys, ids, best, pos, order):
            return
        pos = best


@njit(cache=True, nogil=True)
def heap_push(keys, ids, size, key, i, order):
    pos = size
    keys[pos] = key
    ids[pos] = i
    while pos > 0:
        parent = (pos - 1) >> 1
        if not _swap_if_before(keys, ids, pos, parent, order):
            break
        pos = parent
    return size + 1


@njit(cache=True, nogil=True)
def heap_pop(keys, ids, size, order):
    key = keys[0]
    i = ids[0]
    size -= 1
    keys[0] = keys[size]
    ids[0] = ids[size]
    _sift_down(keys, ids, size, 0, order)
    return key, i, size


@njit(cache=True, nogil=True)
def heapify(keys, ids, size, order):
    for pos in range(size // 2 - 1, -1, -1):
        _sift_down(keys, ids, size, pos, order)


# --- dense similarity layout --------------------------------------------------------------------

@njit(cache=True, fastmath=_FAST)
def _row_stats(r):
    """(max(0, max r), Σ max(0, r)) of a row piece."""
    zero = np.float32(0.0)
    m = zero
    t = zero
    for j in range(r.shape[0]):
        m = max(m, r[j])
        t += max(r[j], zero)
    return m, t


@njit(cache=True)
def _into_tile(r, tile, col):
    for j in range(r.shape[0]):
        tile[j, col] = r[j]


@njit(cache=True)
def _mirror_block_row(S, bi, block, bmax, bsum, tile):
    n = S.shape[0]
    i0 = bi * block
    i1 = min(n, i0 + block)
    for bj in range(bi + 1):
        j0 = bj * block
        j1 = min(n, j0 + block)
        diag = bj == bi
        # a transposed copy of the lower-triangle tile (small: stays in L1)
        for i in range(i0, i1):
            jl = i + 1 if diag else j1
            _into_tile(S[i, j0:jl], tile, i - i0)
        # write the mirror image one contiguous row piece at a time
        for j in range(j0, j1):
            lo = max(i0, j + 1) if diag else i0
            dst = S[j, lo:i1]
            src = tile[j - j0, lo - i0:i1 - i0]
            for t in range(dst.shape[0]):
                dst[t] = src[t]
        if not diag:
            for i in range(i0, i1):
                bmax[i, bj], bsum[i, bj] = _row_stats(S[i, j0:j1])
            for j in range(j0, j1):
                bmax[j, bi], bsum[j, bi] = _row_stats(tile[j - j0, :i1 - i0])
        else:
            for i in range(i0, i1):
                bmax[i, bi], bsum[i, bi] = _row_stats(S[i, j0:j1])


@njit(cache=True, parallel=True)
def mirror_clip_stats(S, block):
    """S (C order) holds its lower triangle: mirror it into the upper one and return per (row, column
    block) maxima and float32 sums of max(0, S). Negative entries stay: every engine compares S with a
    coverage ≥ 0, so they count as 0 without a clipping pass. Block rows are paired (first with last) so the
    threads get equal shares of the triangle; a block row writes only its own mirror cells."""
    n = S.shape[0]
    nb = (n + block - 1) // block
    bmax = np.zeros((n, nb), dtype=np.float32)
    bsum = np.zeros((n, nb), dtype=np.float32)
    for pp in prange((nb + 1) // 2):
        p = np.int64(pp)
        tile = np.empty((block, block), dtype=np.float32)
        _mirror_block_row(S, p, block, bmax, bsum, tile)
        q = np.int64(nb - 1) - p
        if q != p:
            _mirror_block_row(S, q, block, bmax, bsum, tile)
    return bmax, bsum


@njit(cache=True, parallel=True)
def block_stats(S, block):
    """Per (row, column block) maxima and float32 sums of max(0, S) for a full matrix."""
    n = S.shape[0]
    nb = (n + block - 1) // block
    bmax = np.zeros((n, nb), dtype=np.float32)
    bsum = np.zeros((n, nb), dtype=np.float32)
    for i in prange(n):
        for b in range(nb):
            bmax[i, b], bsum[i, b] = _row_stats(S[i, b * block:min(n, (b + 1) * block)])
    return bmax, bsum


# --- gains --------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FAST)
def dense_gain(S, c, cur, bmax, mincur, block):
    """(Σ_v max(0, S[c, v] − cur[v]), cells read). Blocks with bmax[c, b] ≤ min cur add exactly 0 and
    are skipped; the others are summed in float32 per block, the blocks in float64."""
    n = S.shape[1]
    zero = np.float32(0.0)
    row = S[c]
    rmax = bmax[c]
    total = 0.0
    cells = 0
    for b in range(rmax.shape[0]):
        if rmax[b] <= mincur[b]:
            continue
        j0 = b * block
        j1 = min(n, j0 + block)
        r = row[j0:j1]  # 1-D slices: numba vectorizes these loops, not 2-D indexing
        cu = cur[j0:j1]
        acc = zero
        for j in range(r.shape[0]):
            acc += max(r[j] - cu[j], zero)
        total += acc
        cells += j1 - j0
    return total, cells


@njit(cache=True)
def dense_cover(S, c, cur, bmax, mincur, block):
    """cur = max(cur, S[c]) and the block minima of cur, touching only blocks that can change."""
    n = S.shape[1]
    row = S[c]
    rmax = bmax[c]
    for b in range(rmax.shape[0]):
        if rmax[b] <= mincur[b]:
            continue
        j0 = b * block
        j1 = min(n, j0 + block)
        r = row[j0:j1]
        cu = cur[j0:j1]
        m = np.float32(np.inf)
        for j in range(r.shape[0]):
            x = max(cu[j], r[j])
            cu[j] = x
            m = min(m, x)
        mincur[b] = m


@njit(cache=True)
def naive(S, bmax, block, q, w, k, order):
    n = S.shape[0]
    cur = np.zeros(n, dtype=np.float32)
    mincur = np.zeros(bmax.shape[1], dtype=np.float32)
    taken = np.zeros(n, dtype=np.bool_)
    picks = np.empty(k, dtype=np.int64)
    gains = np.empty(k, dtype=np.float64)
    for step in range(k):
        best = -1
        best_g = -np.inf
        for c in range(n):
            if taken[c]:
                continue
            d, _ = dense_gain(S, c, cur, bmax, mincur, block)
            g = w * d + q[c]
            if best < 0 or _before(g, c, best_g, best, order):
                best = c
                best_g = g
        taken[best] = True
        picks[step] = best
        gains[step] = best_g
        dense_cover(S, best, cur, bmax, mincur, block)
    return picks, gains


@njit(cache=True)
def lazy_init(keys, ids, meta, bound, order):
    n = bound.shape[0]
    for c in range(n):
        keys[c] = bound[c]
        ids[c] = c
    heapify(keys, ids, n, order)
    meta[0] = n


@njit(cache=True, parallel=True)
def gains_batch(S, cands, m, cur, bmax, mincur, block, out, cells):
    """dense_gain of cands[:m], in parallel."""
    for t in prange(m):
        d, r = dense_gain(S, cands[t], cur, bmax, mincur, block)
        out[t] = d
        cells[t] = r


@njit(cache=True)
def lazy_steps(S, bmax, block, q, w, order, cur, mincur, keys, ids, meta, fresh, s0, s1, picks, gains, batch):
    """Greedy steps s0..s1-1 of the lazy engine; the state lives in the arrays (resumable by chunk).

    While evaluations read most of a row (early on, before block skipping pays), up to ``batch`` stale
    heap tops are evaluated together on all threads: extra evaluations only tighten bounds, so the
    picks are unchanged."""
    n = S.shape[0]
    size = meta[0]
    evals = meta[1]
    cells = meta[2]
    cands = np.empty(max(1, batch), dtype=np.int64)
    out = np.empty(max(1, batch), dtype=np.float64)
    outc = np.empty(max(1, batch), dtype=np.int64)
    last = n
    for step in range(s0, s1):
        while True:
            g, c, size = heap_pop(keys, ids, size, order)
            if fresh[c] == step:
                break
            if batch > 1 and 8 * last > n:
                cands[0] = c
                m = 1
                while m < batch and size > 0 and fresh[ids[0]] != step:
                    _, c2, size = heap_pop(keys, ids, size, order)
                    cands[m] = c2
                    m += 1
                gains_batch(S, cands, m, cur, bmax, mincur, block, out, outc)
                last = 0
                for t in range(m):
                    ct = cands[t]
                    fresh[ct] = step
                    cells += outc[t]
                    last = max(last, outc[t])
                    size = heap_push(keys, ids, size, w * out[t] + q[ct], ct, order)
                evals += m
            else:
                d, r = dense_gain(S, c, cur, bmax, mincur, block)
                g = w * d + q[c]
                evals += 1
                cells += r
                last = r
                fresh[c] = step
                size = heap_push(keys, ids, size, g, c, order)
        picks[step] = c
        gains[step] = g
        fresh[c] = -2
        dense_cover(S, c, cur, bmax, mincur, block)
    meta[0] = size
    meta[1] = evals
    meta[2] = cells


def threads() -> int:
    return int(numba.get_num_threads())


# --- sparse (kNN graph) facility location -------------------------------------------------------
# Graphs are CSR (indptr, idx, sim); idx == n is a spare slot for missing neighbours (coverage 0, sim 0).

@njit(cache=True, fastmath=_FAST, nogil=True)
def csr_gain(indptr, idx, sim, c, cur, floor):
    """Σ over c's edges of max(0, sim − max(cur[v], floor))."""
    zero = np.float32(0.0)
    acc = zero
    for p in range(indptr[c], indptr[c + 1]):
        acc += max(sim[p] - max(cur[idx[p]], floor), zero)
    return np.float64(acc)


@njit(cache=True, nogil=True)
def csr_init(indptr, idx, sim, q, w, keys, ids, meta, order):
    n = indptr.shape[0] - 1
    cur = np.zeros(n + 1, dtype=np.float32)
    for c in range(n):
        keys[c] = w * csr_gain(indptr, idx, sim, c, cur, np.float32(0.0)) + q[c]
        ids[c] = c
    heapify(keys, ids, n, order)
    meta[0] = n


@njit(cache=True, nogil=True)
def csr_steps(indptr, idx, sim, q, w, floors, order, cur, keys, ids, meta, fresh, s0, s1, picks, gains):
    """Lazy greedy steps s0..s1-1 on a sparse objective. ``floors[step]`` (non-decreasing) is a coverage
    every point is assumed to have already; fresh[c] = 0 after csr_init (exact first gains)."""
    size = meta[0]
    evals = meta[1]
    for step in range(s0, s1):
        fl = np.float32(floors[step])
        while True:
            g, c, size = heap_pop(keys, ids, size, order)
            if fresh[c] == step:
                break
            g = w * csr_gain(indptr, idx, sim, c, cur, fl) + q[c]
            evals += 1
            fresh[c] = step
            size = heap_push(keys, ids, size, g, c, order)
        picks[step] = c
        gains[step] = g
        fresh[c] = -2
        for p in range(indptr[c], indptr[c + 1]):
            v = idx[p]
            if sim[p] > cur[v]:
                cur[v] = sim[p]
    meta[0] = size
    meta[1] = evals


@njit(cache=True, nogil=True)
def symmetric_csr(I, S):
    """The union of a kNN graph and its reverse: c—v is an edge when v is among c's neighbours or c
    among v's (each pair once). I: (n, kk) int32 with n for a missing neighbour."""
    n, kk = I.shape
    srt = np.empty_like(I)
    for c in range(n):
        srt[c] = np.sort(I[c])
    deg = np.zeros(n + 1, dtype=np.int64)
    for c in range(n):
        for j in range(kk):
            u = I[c, j]
            if u == n:
                continue
            deg[c] += 1
            if u != c:
                r = srt[u]
                pos = np.searchsorted(r, c)
                if pos >= kk or r[pos] != c:  # c is not in u's own list: a reverse edge of u
                    deg[u] += 1
    indptr = np.zeros(n + 1, dtype=np.int64)
    for c in range(n):
        indptr[c + 1] = indptr[c] + deg[c]
    idx = np.empty(indptr[n], dtype=np.int32)
    sim = np.empty(indptr[n], dtype=np.float32)
    fill = indptr[:n].copy()
    for c in range(n):
        for j in range(kk):
            u = I[c, j]
            if u == n:
                continue
            idx[fill[c]] = u
            sim[fill[c]] = S[c, j]
            fill[c] += 1
            if u != c:
                r = srt[u]
                pos = np.searchsorted(r, c)
                if pos >= kk or r[pos] != c:
                    idx[fill[u]] = c
                    sim[fill[u]] = S[c, j]
                    fill[u] += 1
    return indptr, idx, sim
