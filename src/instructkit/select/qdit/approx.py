"""Approximate engine for very large pools: a kNN similarity graph (faiss) + lazy greedy.

Facility location is made sparse: similarities off a kNN graph (``s = max(0, cos)`` as in the exact
engines) are dropped, and lazy greedy (compiled) runs on that surrogate. Two surrogates, because each
fails where the other is good:

* ``forward``: ``c`` covers its own ``knn`` nearest neighbours. Dropping every other similarity makes
  the points nobody lists look uncovered, while in the dense objective they are covered by *something*
  (a random pick is at cosine ~0.1–0.2 of anyone): so each point is taken to have at least a
  *background coverage* that grows with the number of picks t (the quantile 1 − 1/(t+1) of random-pair
  similarities: about the best of t random draws). Good when k is small against the pool's structure (noise-dominated pools).
* ``symmetric``: ``c`` covers ``v`` when either is among the other's neighbours. Good when clusters are
  bigger than ``knn`` (a forward list then sees only part of the cluster a pick really covers).

``auto`` (default) runs both, side by side on the shared graph, and keeps the picks whose true objective,
estimated on 2,048 random pool points (the same points for both: a paired comparison), is higher; where
the two differ a lot (the regimes above) the check tells them apart easily, and where it is close the
choice costs little. Memory is O(N·knn); time is one kNN search, two sparse greedy runs (milliseconds
to seconds) and one check matmul.

Index by pool size (``index="auto"``): exact ``IndexFlatIP`` up to 4,096 items; above that an
inverted-file index ``IndexIVFFlat`` with ``nlist ≈ sqrt(8·N)`` cells (k-means, 4 rounds on a seeded sample of 10 points per cell) and
``nprobe`` cells searched per query. ``hnsw`` is available too (``IndexHNSWFlat``, M=32).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from instructkit.errors import UserError
from instructkit.select.qdit.lazy import GreedyResult, Progress
from instructkit.select.qdit.objective import coverage_of_many, weighted_objective


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
        # k-means on 10 points per cell, 4 rounds: a coarse partition is all a kNN search needs
        sample = X[np.sort(rng.choice(n, size=min(n, 10 * nlist), replace=False))]
        idx.cp.seed = int(seed)
        idx.cp.niter = 4
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


def pair_similarities(X: np.ndarray, pairs: int = 16_384, seed: int = 0) -> np.ndarray:
    """Sorted ``max(0, cos)`` of random pairs of distinct rows (the pool's background similarity)."""
    n = X.shape[0]
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, pairs)
    b = rng.integers(0, n, pairs)
    keep = a != b
    if not keep.any():
        return np.zeros(1, dtype=np.float32)
    return np.sort(np.maximum(np.einsum("ij,ij->i", X[a[keep]], X[b[keep]]), 0.0)).astype(np.float32)


def background_floor(sims: np.ndarray, k: int, spread: float = 1.0) -> np.ndarray:
    """Per step t, the coverage a point gets anyway from t earlier picks it is not a neighbour of:
    the (1 − spread/(t+1)) quantile of the sorted pair similarities ``sims`` (about the best of
    t/spread random draws). Non-decreasing, so lazy bounds stay valid."""
    qs = np.clip(1.0 - spread / (np.arange(k) + 1.0), 0.0, 1.0)
    at = np.minimum((qs * (len(sims) - 1)).round().astype(np.int64), len(sims) - 1)
    return np.maximum.accumulate(sims[at]).astype(np.float32)


def csr_greedy(indptr: np.ndarray, idx: np.ndarray, sim: np.ndarray, q: np.ndarray, w: float, k: int,
               floors: np.ndarray | None = None, progress: Progress | None = None) -> GreedyResult:
    """Lazy greedy on the sparse facility location of a CSR graph (ties: lowest index). ``floors[t]``:
    a coverage every point is assumed to have at step t (None: 0)."""
    from instructkit.select.qdit.lazy import _nb

    nb = _nb()
    n = indptr.shape[0] - 1
    k = min(int(k), n)
    q = np.ascontiguousarray(q, dtype=np.float64)
    floors = np.zeros(k, dtype=np.float32) if floors is None else np.ascontiguousarray(floors[:k], dtype=np.float32)
    order = np.arange(n, dtype=np.int64)
    keys = np.empty(n, dtype=np.float64)
    ids = np.empty(n, dtype=np.int64)
    meta = np.zeros(3, dtype=np.int64)
    fresh = np.zeros(n, dtype=np.int64)  # the first gains are exact
    cur = np.zeros(n + 1, dtype=np.float32)
    nb.csr_init(indptr, idx, sim, q, float(w), keys, ids, meta, order)
    picks = np.empty(k, dtype=np.int64)
    gains = np.empty(k, dtype=np.float64)
    done = 0
    while done < k:
        upto = min(k, done + 256)
        nb.csr_steps(indptr, idx, sim, q, float(w), floors, order, cur, keys, ids, meta, fresh, done, upto,
                     picks, gains)
        if progress:
            progress(upto - done)
        done = upto
    return GreedyResult([int(p) for p in picks], [float(g) for g in gains], {"evaluations": float(meta[1])})


def forward_csr(I: np.ndarray, S: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kNN lists as CSR rows (missing neighbours point at the spare slot n)."""
    n, kk = I.shape
    idx = np.where(I < 0, n, I).astype(np.int32).ravel()
    return np.arange(0, n * kk + 1, kk, dtype=np.int64), idx, np.ascontiguousarray(S, dtype=np.float32).ravel()


SURROGATES = ("auto", "forward", "symmetric")


def approx_greedy(X: np.ndarray, q: np.ndarray, w: float, k: int, *, knn: int = 64, index: str = "auto",
                  nprobe: int = 8, seed: int = 0, surrogate: str = "auto", check_sample: int = 2048,
                  progress: Progress | None = None) -> GreedyResult:
    """kNN graph + lazy greedy on a sparse surrogate of the objective. See the module docstring.

    ``surrogate``: ``forward`` (c covers its own neighbours, with the background floor), ``symmetric``
    (c covers v when either is among the other's neighbours), or ``auto``: run both (the graph is shared,
    each greedy costs little) and keep the picks whose true objective, estimated on ``check_sample``
    random pool points (the same for both), is higher.
    """
    if surrogate not in SURROGATES:
        raise UserError(f"surrogate '{surrogate}' not understood; use one of {', '.join(SURROGATES)}")
    from instructkit.select.qdit.lazy import _nb
    X = np.ascontiguousarray(X, dtype=np.float32)
    n = X.shape[0]
    k = min(int(k), n)
    q = np.asarray(q, dtype=np.float64)
    t0 = time.perf_counter()
    I, S = knn_graph(X, knn=knn, index=index, nprobe=nprobe, seed=seed)
    t1 = time.perf_counter()
    jobs: dict[str, Callable[[], GreedyResult]] = {}
    if surrogate in ("auto", "forward"):
        fwd = forward_csr(I, S)
        fl = background_floor(pair_similarities(X, seed=seed), k)
        jobs["forward"] = lambda: csr_greedy(*fwd, q, w, k, floors=fl)
    if surrogate in ("auto", "symmetric"):
        I32 = np.where(I < 0, n, I).astype(np.int32)
        jobs["symmetric"] = lambda: csr_greedy(*_nb().symmetric_csr(I32, S), q, w, k)
    # the compiled greedy releases the GIL: the surrogates run side by side on the cores
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        runs = {name: f.result() for name, f in futures.items()}
    t2 = time.perf_counter()
    estimates: dict[str, float] = {}
    if len(runs) > 1:
        m = min(n, int(check_sample))
        names = list(runs)
        divs = coverage_of_many(X, [runs[nm].picks for nm in names], sample=None if m >= n else m, seed=seed + 1)
        for name, d in zip(names, divs):
            estimates[name] = weighted_objective(d, runs[name].picks, q, w, n)
        best = max(names, key=lambda nm: estimates[nm])  # ties: the first listed (forward)
    else:
        best = next(iter(runs))
    if progress:
        progress(k)
    res = runs[best]
    res.stats.update({"knn": float(knn), "graph_edges": float(I.size), "surrogate": best,
                      "knn_s": round(t1 - t0, 3), "greedy_s": round(t2 - t1, 3),
                      "check_s": round(time.perf_counter() - t2, 3)})
    for name, v in estimates.items():
        res.stats[f"estimate_{name}"] = v
    return res
