"""Semantic near-duplicates: pairs whose embedding cosine reaches a threshold, never an N×N matrix.

Small sets (≤ ``flat_max`` vectors) use an exact flat inner-product index; larger ones an IVF index
(k-means cells, ~4·√N of them) that compares each vector only with those in its ``nprobe`` nearest
cells. Either way faiss ``range_search`` answers one block of queries at a time, so memory is
O(N·d + results), and only pairs above the threshold are ever materialized.

>>> import numpy as np
>>> v = np.eye(3, dtype=np.float32); v[2] = v[0]
>>> similar_pairs(v, 0.99).pairs.tolist()
[[0, 2]]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from instructkit.errors import UserError


@dataclass
class SemanticPairs:
    pairs: np.ndarray        # (m × 2) int64, i < j
    similarity: np.ndarray   # cosine of each pair
    index: str               # "flat" or "ivfN,nprobe=P"


def _faiss():
    try:
        import faiss
    except ImportError:
        raise UserError("semantic dedup needs faiss; run: pip install 'instructkit[clean]'") from None
    return faiss


def similar_pairs(vectors: np.ndarray, threshold: float, flat_max: int = 20000, nprobe: int = 8,
                  block: int = 2048, seed: int = 1,
                  advance: Callable[[int], None] | None = None) -> SemanticPairs:
    """All pairs ``i < j`` with ``vectors[i]·vectors[j] ≥ threshold`` (unit vectors: cosine)."""
    faiss = _faiss()
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = x.shape
    if n < 2:
        return SemanticPairs(np.zeros((0, 2), dtype=np.int64), np.zeros(0), "flat")
    if n <= flat_max:
        index = faiss.IndexFlatIP(d)
        name = "flat"
    else:
        nlist = int(4 * np.sqrt(n))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        train = x[rng.choice(n, size=min(n, nlist * 64), replace=False)]
        index.cp.seed = seed
        index.train(train)
        index.nprobe = min(nprobe, nlist)
        name = f"ivf{nlist},nprobe={index.nprobe}"
    index.add(x)
    radius = float(threshold) - 1e-6  # range_search keeps scores strictly above the radius
    found_i: list[np.ndarray] = []
    found_j: list[np.ndarray] = []
    found_s: list[np.ndarray] = []
    for s in range(0, n, block):
        q = x[s:s + block]
        lims, dist, ids = index.range_search(q, radius)
        owner = np.repeat(np.arange(s, s + len(q)), np.diff(lims.astype(np.int64)))
        keep = ids != owner  # never a vector with itself
        a, b = owner[keep], ids[keep].astype(np.int64)
        found_i.append(np.minimum(a, b))
        found_j.append(np.maximum(a, b))
        found_s.append(dist[keep].astype(np.float64))
        if advance is not None:
            advance(len(q))
    i, j, sim = np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_s)
    # a pair is usually found from both sides (IVF: maybe from one only): keep one copy
    _, first = np.unique(i * n + j, return_index=True)
    i, j, sim = i[first], j[first], sim[first]
    return SemanticPairs(np.stack([i, j], axis=1).astype(np.int64), sim, name)
