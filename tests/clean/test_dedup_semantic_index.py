"""The cluster-blocked (IVF) similarity search finds the same pairs as the exact flat search."""

from __future__ import annotations

import numpy as np

from instructkit.clean.semantic import similar_pairs


def planted_vectors(n_base: int = 3000, n_copies: int = 600, d: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_base, d)).astype(np.float32)
    src = rng.integers(0, n_base, size=n_copies)
    copies = base[src] + rng.normal(scale=0.12, size=(n_copies, d)).astype(np.float32)
    x = np.concatenate([base, copies])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, src


def test_ivf_matches_flat_on_planted_near_copies():
    x, src = planted_vectors()
    flat = similar_pairs(x, 0.9)
    ivf = similar_pairs(x, 0.9, flat_max=1000, nprobe=8, block=512)
    assert flat.index == "flat" and ivf.index.startswith("ivf")
    truth = {(int(s), 3000 + k) for k, s in enumerate(src)}
    got_flat = {tuple(p) for p in flat.pairs.tolist()}
    got_ivf = {tuple(p) for p in ivf.pairs.tolist()}
    assert truth <= got_flat                        # exact search: all planted pairs (cos ~0.99)
    assert len(got_ivf & truth) >= 0.95 * len(truth)  # blocked search: nearly all
    assert got_ivf <= got_flat                      # and nothing the exact search would not find
    assert np.all(flat.similarity >= 0.9 - 1e-5) and np.all(flat.pairs[:, 0] < flat.pairs[:, 1])
