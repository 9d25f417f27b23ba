"""Approximate engine for very large pools: a kNN similarity graph (faiss) + lazy greedy.

Facility location is made sparse: item ``c`` may only cover itself and its ``knn`` nearest
neighbours (``s = max(0, cos)`` as in the exact engines); every other similarity counts as 0. The
greedy on this sparse objective is the same lazy greedy as the exact engine (its picks are the
exact greedy picks *of the sparse objective*). Memory is O(N·knn); time is one kNN search plus
O(knn) per heap refresh.

Index by pool size (``index="auto"``): exact ``IndexFlatIP`` up to 4,096 items; above that an
inverted-file index ``IndexIVFFlat`` with ``nlist ≈ sqrt(8·N)`` cells (k-means, 10 rounds on a seeded sample of 20 points per cell) and
``nprobe`` cells searched per query. ``hnsw`` is available too (``IndexHNSWFlat``, M=32).
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from instructkit.errors import UserError
from instructkit.select.fl_exact import GreedyResult, Progress


def knn_graph(X: np.ndarray, knn: int = 32, index: str = "auto", nprobe: int = 8,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(I, S): for every row its ``knn`` nearest rows by inner product (self first), S = max(0, cos).

    Missing neighbours (an IVF cell too small) come back as index -1 with similarity 0.
    """
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss is part of the select extra
        raise UserError("the approx engine needs faiss; run: pip install 'instructkit[select]'") from None
    X = np.ascontiguousarray(X, dtype=np.float32)
    n, d = X.shape
    kk = min(n, knn + 1)
    if index == "auto":
        index = "flat" if n <= 4096 else "ivf"
    if index == "flat":
        idx = faiss.IndexFlatIP(d)
    elif index == "ivf":
        nlist = int(min(max(16, math.sqrt(8 * n)), n // 8 or 1))
        quant = faiss.IndexFlatIP(d)
        idx = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        # k-means on 20 points per cell, 10 rounds: a coarse partition is all a kNN search needs
        sample = X[np.sort(rng.choice(n, size=min(n, 20 * nlist), replace=False))]
        idx.cp.seed = int(seed)
        idx.cp.niter = 10
        idx.cp.min_points_per_centroid = 5
        idx.train(sample)
        idx.nprobe = int(max(1, min(nprobe, nlist)))
    elif index == "hnsw":
        idx = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efSearch = max(64, 2 * kk)
    else:
        raise UserError(f"kNN index '{index}' not understood; use auto, flat, ivf or hnsw")
    idx.add(X)
    D, I = idx.search(X, kk)
    np.maximum(D, 0, out=D)
    D[I < 0] = 0.0
    return I.astype(np.int64), D.astype(np.float32)


def sparse_greedy(I: np.ndarray, S: np.ndarray, q: np.ndarray, w: float, k: int,
                  progress: Progress | None = None) -> GreedyResult:
    """Lazy greedy on the sparse facility location given by the graph (I, S); ties: lowest index."""
    n = I.shape[0]
    k = min(k, n)
    q = np.asarray(q, dtype=np.float64)
    cur = np.zeros(n + 1, dtype=np.float32)  # slot n absorbs the -1 (missing) neighbours
    I = np.where(I < 0, n, I)
    first = S.sum(axis=1, dtype=np.float64)
    ub = w * first + q
    heap = [(-float(ub[c]), c) for c in range(n)]
    heapq.heapify(heap)
    fresh = np.zeros(n, dtype=np.int64)
    picks: list[int] = []
    gains: list[float] = []
    evals = 0
    for step in range(k):
        while True:
            neg, c = heapq.heappop(heap)
            if fresh[c] == step:
                break
            g = w * float(np.maximum(S[c] - cur[I[c]], 0).sum(dtype=np.float64)) + q[c]
            evals += 1
            fresh[c] = step
            heapq.heappush(heap, (-g, c))
        picks.append(c)
        gains.append(-neg)
        fresh[c] = -2
        cur[I[c]] = np.maximum(cur[I[c]], S[c])
        cur[n] = 0.0
        if progress:
            progress(1)
    return GreedyResult(picks, gains, {"evaluations": float(evals)})


def approx_greedy(X: np.ndarray, q: np.ndarray, w: float, k: int, *, knn: int = 32, index: str = "auto",
                  nprobe: int = 8, seed: int = 0, progress: Progress | None = None) -> GreedyResult:
    """kNN graph + lazy greedy on the sparse objective. See the module docstring."""
    I, S = knn_graph(X, knn=knn, index=index, nprobe=nprobe, seed=seed)
    res = sparse_greedy(I, S, q, w, k, progress=progress)
    res.stats.update({"knn": float(knn), "graph_edges": float(I.size)})
    return res
