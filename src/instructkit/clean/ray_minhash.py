"""MinHash near-dedup as a distributed band-bucketing step on Ray (a map-reduce over Ray tasks).

The arithmetic is :mod:`instructkit.clean.minhash`'s, only spread out:

1. **map** (one task per block of records): shingles + signatures of the block, then every
   record's key in every LSH band, routed to one of ``P`` partitions by key;
2. **reduce** (one task per partition): the rows ``(band, key, record)`` of the partition sorted
   by bucket and record, and the pairs within buckets made exactly as ``candidate_pairs`` makes
   them (first member + predecessor), so the candidate set equals the single-machine one;
3. **verify** (tasks over chunks of candidate pairs): estimated (signature agreement) or exact
   (shingle-set) Jaccard, fetching only the signature blocks a chunk needs from the object store;
4. on the **driver**: union-find and the representatives (``clean.dedup``), which need every
   verified pair at once but are linear in their number.

Signatures never travel to the driver; only candidate pairs and similarities do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from instructkit import ui
from instructkit.clean import minhash as mh

PAIR_CHUNK = 200_000


def _signature_block(texts: list[str], start: int, unit: str, n: int, num_perm: int, seed: int,
                     bands: int, rows: int, partitions: int) -> tuple[Any, ...]:
    hashes, owner = mh.shingle_hashes(texts, unit, n)
    sig = mh.MinHasher(num_perm, seed=seed).signatures(hashes, owner, len(texts))
    keys = mh.band_keys(sig, bands, rows)                       # (m × bands)
    idx = np.repeat(np.arange(start, start + len(texts), dtype=np.int64), bands)
    band = np.tile(np.arange(bands, dtype=np.int32), len(texts))
    flat = keys.reshape(-1)
    part = (flat % np.uint64(partitions)).astype(np.int64)
    out: list[Any] = [sig]
    for p in range(partitions):
        m = part == p
        out.append((band[m], flat[m], idx[m]))
    return tuple(out)


def _bucket_partition(*parts: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    band = np.concatenate([p[0] for p in parts])
    key = np.concatenate([p[1] for p in parts])
    idx = np.concatenate([p[2] for p in parts])
    order = np.lexsort((idx, key, band))  # by bucket, then record: the single-machine member order
    band, key, idx = band[order], key[order], idx[order]
    same = np.zeros(len(idx), dtype=bool)
    same[1:] = (band[1:] == band[:-1]) & (key[1:] == key[:-1])
    return mh.run_pairs(idx, same)


def _fetch_rows(refs: list[Any], block: int, ids: np.ndarray) -> dict[int, Any]:
    import ray

    needed = np.unique(ids // block)
    got = ray.get([refs[int(b)] for b in needed])
    return dict(zip(needed.tolist(), got))


def _verify_estimate(sig_refs: list[list[Any]], block: int, pairs: np.ndarray) -> np.ndarray:
    refs = sig_refs[0]  # wrapped in a list so Ray hands over references, not all the blocks
    blocks = _fetch_rows(refs, block, pairs.reshape(-1))

    def rows(ids: np.ndarray) -> np.ndarray:
        out = np.empty((len(ids), blocks[next(iter(blocks))].shape[1]), dtype=np.uint32)
        for b, sig in blocks.items():
            m = ids // block == b
            out[m] = sig[ids[m] - b * block]
        return out

    return (rows(pairs[:, 0]) == rows(pairs[:, 1])).mean(axis=1)


def _verify_exact(text_refs: list[list[Any]], block: int, pairs: np.ndarray, unit: str, n: int) -> np.ndarray:
    blocks = _fetch_rows(text_refs[0], block, pairs.reshape(-1))
    ids = np.unique(pairs.reshape(-1))
    texts = [blocks[int(i) // block][int(i) - (int(i) // block) * block] for i in ids]
    hashes, owner = mh.shingle_hashes(texts, unit, n)
    local = np.searchsorted(ids, pairs)
    return mh.exact_jaccard(hashes, owner, len(ids), local)


def minhash_pairs(texts: list[str], cfg: Any, workers: int = 2,
                  block: int | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Same contract and result as ``clean.dedup._minhash_pairs``, computed on the Ray cluster."""
    import ray

    from instructkit.clean.dedup import LSH_FN_WEIGHT

    unit, n = mh.parse_shingle(cfg.shingle)
    bands, rows = (cfg.bands, cfg.rows) if cfg.bands else mh.lsh_params(cfg.threshold, cfg.num_perm,
                                                                         fn_weight=LSH_FN_WEIGHT)
    total = len(texts)
    block = int(block or max(1_000, -(-total // (4 * workers))))
    partitions = max(1, 2 * workers)
    text_refs = [ray.put(list(texts[s:s + block])) for s in range(0, total, block)]
    sig_task = ray.remote(_signature_block).options(num_returns=1 + partitions, num_cpus=1)
    outs = [sig_task.remote(ref, b * block, unit, n, cfg.num_perm, cfg.seed, bands, rows, partitions)
            for b, ref in enumerate(text_refs)]
    sig_refs = [o[0] for o in outs]
    with ui.progress("minhash signatures (ray)", total=total) as bar:
        pending = {r: min(block, total - b * block) for b, r in enumerate(sig_refs)}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for r in ready:
                bar.advance(pending.pop(r))
    reduce_task = ray.remote(_bucket_partition).options(num_cpus=1)
    found = ray.get([reduce_task.remote(*[o[1 + p] for o in outs]) for p in range(partitions)])
    cand = mh.unique_pairs(np.concatenate(found) if found else np.zeros((0, 2)), total)

    def similarity(pairs: np.ndarray) -> np.ndarray:
        if len(pairs) == 0:
            return np.zeros(0, dtype=np.float64)
        chunks = [pairs[s:s + PAIR_CHUNK] for s in range(0, len(pairs), PAIR_CHUNK)]
        if cfg.verify == "exact":
            task = ray.remote(_verify_exact).options(num_cpus=1)
            refs = [task.remote([text_refs], block, c, unit, n) for c in chunks]
        else:
            task = ray.remote(_verify_estimate).options(num_cpus=1)
            refs = [task.remote([sig_refs], block, c) for c in chunks]
        return np.concatenate(ray.get(refs)).astype(np.float64)

    sim = similarity(cand)
    ok = sim >= cfg.threshold - 1e-12
    info = {"bands": bands, "rows": rows, "shingle": f"{unit}:{n}", "num_perm": cfg.num_perm,
            "candidate_pairs": int(len(cand)), "verified_pairs": int(ok.sum()), "verify": cfg.verify,
            "ray": {"blocks": len(text_refs), "block_size": block, "partitions": partitions, "workers": workers},
            "_to_rep": lambda i, j: similarity(np.stack([i, j], axis=1))}
    return cand[ok], sim[ok], info
