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
    from instructkit.select.fl_exact import _nb

    nb = _nb()
    n = I.shape[0]
    k = min(int(k), n)
    q = np.ascontiguousarray(q, dtype=np.float64)
    I = np.ascontiguousarray(np.where(I < 0, n, I), dtype=np.int32)  # slot n: missing neighbours
    S = np.ascontiguousarray(S, dtype=np.float32)
    order = np.arange(n, dtype=np.int64)
    keys = np.empty(n, dtype=np.float64)
    ids = np.empty(n, dtype=np.int64)
    meta = np.zeros(3, dtype=np.int64)
    fresh = np.zeros(n, dtype=np.int64)  # the first gains are exact
    cur = np.zeros(n + 1, dtype=np.float32)
    nb.sparse_init(I, S, q, float(w), keys, ids, meta, order)
    picks = np.empty(k, dtype=np.int64)
    gains = np.empty(k, dtype=np.float64)
    done = 0
    while done < k:
        upto = min(k, done + 256)
        nb.sparse_steps(I, S, q, float(w), order, cur, keys, ids, meta, fresh, done, upto, picks, gains)
        if progress:
            progress(upto - done)
        done = upto
    return GreedyResult([int(p) for p in picks], [float(g) for g in gains], {"evaluations": float(meta[1])})


def approx_greedy(X: np.ndarray, q: np.ndarray, w: float, k: int, *, knn: int = 32, index: str = "auto",
                  nprobe: int = 8, seed: int = 0, progress: Progress | None = None) -> GreedyResult:
    """kNN graph + lazy greedy on the sparse objective. See the module docstring."""
    I, S = knn_graph(X, knn=knn, index=index, nprobe=nprobe, seed=seed)
    res = sparse_greedy(I, S, q, w, k, progress=progress)
    res.stats.update({"knn": float(knn), "graph_edges": float(I.size)})
    return res
