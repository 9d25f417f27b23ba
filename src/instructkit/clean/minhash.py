"""Batch MinHash + LSH in numpy: signatures for many records at once, candidate pairs by band buckets.

Why not one ``datasketch.MinHash`` per record: that pays Python and SHA-1 per shingle and numpy
overhead per record. Here every step is one array operation over a chunk of records:

1. shingles: word (or character) n-grams of the normalized text, hashed to uint64 in one pass over
   all records (``text.ngram_hashes``); each distinct word is hashed once;
2. permutations: ``h_k(x) = (a_k·x + b_k) mod p`` with the Mersenne prime ``p = 2^31 − 1``, computed
   exactly on uint64 (``a_k·x + b_k < 2^62``, so nothing overflows; the modulo is two shift-and-add
   folds, not a division), laid out (num_perm × shingles) so the per-record minimum is one
   contiguous ``minimum.reduceat``;
3. LSH: the signature is cut in ``bands × rows``; each band is hashed to a 64-bit key and records
   sharing a key in any band become candidate pairs (each bucket member is paired with the bucket's
   first member and its predecessor, so a bucket of k records costs O(k), never O(k²));
4. candidates are kept when their estimated (or exact) Jaccard similarity reaches the threshold.

>>> sh = shingle_hashes(["the cat sat on the mat", "the cat sat on a mat", "dogs bark"], "word", 2)
>>> sig = MinHasher(num_perm=64).signatures(*sh, n_records=3)
>>> sig.shape
(3, 64)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from instructkit.clean.text import hash64, mix64, ngram_hashes, normalize_many, word_tokens
from instructkit.errors import UserError

MERSENNE_31 = (1 << 31) - 1
_P = np.uint64(MERSENNE_31)
_S31 = np.uint64(31)
_EMPTY = hash64("\x00instructkit-empty-record")


def parse_shingle(spec: str | int) -> tuple[str, int]:
    """``"word:3"`` -> ("word", 3); ``"char:5"``; a bare number means words."""
    s = str(spec).strip().lower()
    unit, _, size = s.rpartition(":")
    unit = unit or "word"
    if unit not in ("word", "char") or not size.isdigit() or not 1 <= int(size) <= 64:
        raise UserError(f"--shingle '{spec}' not understood; use word:N or char:N with N in 1..64 (e.g. word:3)")
    return unit, int(size)


def shingle_hashes(texts: Sequence[str], unit: str = "word", n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 shingle hashes, owning record index) for all ``texts``; sorted by owner.

    A text shorter than ``n`` units is one shingle; an empty text gets a fixed sentinel shingle, so
    all empty texts (which are identical) share a signature.
    """
    normalized = normalize_many(list(texts))
    if unit == "word":
        tokens, offsets = word_tokens(normalized)
    elif unit == "char":
        lengths = np.array([len(t) for t in normalized], dtype=np.int64)
        codes = np.frombuffer("".join(normalized).encode("utf-32-le"), dtype=np.uint32)
        tokens = mix64(codes.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
        offsets = np.zeros(len(normalized) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
    else:
        raise UserError(f"shingle unit '{unit}' not understood; use word or char")
    lengths = np.diff(offsets)
    hashes, owner = ngram_hashes(tokens, offsets, n)
    empty = np.flatnonzero(lengths == 0)
    if len(empty):
        hashes = np.concatenate([hashes, np.full(len(empty), _EMPTY, dtype=np.uint64)])
        owner = np.concatenate([owner, empty])
        order = np.argsort(owner, kind="stable")
        hashes, owner = hashes[order], owner[order]
    return hashes, owner


class MinHasher:
    """``num_perm`` hash functions ``(a·x + b) mod (2^31 − 1)``, drawn from ``seed``."""

    def __init__(self, num_perm: int = 128, seed: int = 1, chunk: int = 8192):
        if num_perm < 2:
            raise UserError("--num-perm must be at least 2")
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.a = rng.integers(1, MERSENNE_31, size=num_perm, dtype=np.uint64)[:, None]
        self.b = rng.integers(0, MERSENNE_31, size=num_perm, dtype=np.uint64)[:, None]
        self.chunk = chunk  # shingles per block: (num_perm × chunk) uint64 stays cache-sized

    def signatures(self, hashes: np.ndarray, owner: np.ndarray, n_records: int,
                   advance: Callable[[int], None] | None = None) -> np.ndarray:
        """(n_records × num_perm) uint32 signatures; every record must own at least one shingle.

        Shingles are processed in blocks of ``chunk`` whatever the records' lengths: a record longer
        than a block is folded in over several blocks (its minimum so far kept in its signature row),
        so working memory is ``2 × num_perm × chunk × 8`` bytes, never ``num_perm ×`` the longest
        record (a 50 MB field once took 21 GB here).
        """
        counts = np.bincount(owner, minlength=n_records)
        if n_records and counts.min() == 0:
            raise ValueError("every record needs at least one shingle (shingle_hashes guarantees it)")
        offsets = np.zeros(n_records + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        sig = np.full((n_records, self.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        buf = np.empty((self.num_perm, self.chunk), dtype=np.uint64)
        tmp = np.empty_like(buf)
        total, s0, done = int(offsets[-1]), 0, 0
        while s0 < total:
            s1 = min(s0 + self.chunk, total)
            r0 = int(np.searchsorted(offsets, s0, side="right")) - 1  # record holding shingle s0
            r1 = int(np.searchsorted(offsets, s1, side="left"))       # one past the last record touched
            v, t = buf[:, :s1 - s0], tmp[:, :s1 - s0]
            np.multiply(self.a, (hashes[s0:s1] & _P)[None, :], out=v)  # inputs below p
            v += self.b
            for _ in range(2):  # v mod (2^31-1) == (v & p) + (v >> 31), applied until below 2^31 + 1
                np.right_shift(v, _S31, out=t)
                v &= _P
                v += t
            starts = np.maximum(offsets[r0:r1] - s0, 0)
            mins = np.minimum.reduceat(v, starts, axis=1)
            np.minimum(sig[r0:r1], mins.T, out=sig[r0:r1])
            finished = int(np.searchsorted(offsets, s1, side="right")) - 1  # records wholly read
            if advance is not None and finished > done:
                advance(finished - done)
            done = max(done, finished)
            s0 = s1
        return sig


_trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")


def _false_rates(threshold: float, bands: int, rows: int) -> tuple[float, float]:
    s = np.linspace(0.0, 1.0, 1001)
    hit = 1.0 - (1.0 - s ** rows) ** bands
    below, above = s <= threshold, s >= threshold
    fp = _trapezoid(hit[below], s[below]) if below.sum() > 1 else 0.0
    fn = _trapezoid(1.0 - hit[above], s[above]) if above.sum() > 1 else 0.0
    return float(fp), float(fn)


def lsh_params(threshold: float, num_perm: int, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) with bands·rows ≤ num_perm minimizing the weighted false-positive and
    false-negative areas of the LSH S-curve around ``threshold``."""
    best, best_cost = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp, fn = _false_rates(threshold, b, r)
            cost = (1 - fn_weight) * fp + fn_weight * fn
            if cost < best_cost - 1e-12:
                best, best_cost = (b, r), cost
    return best


def band_keys(sig: np.ndarray, bands: int, rows: int, band_ids: Sequence[int] | None = None) -> np.ndarray:
    """(n × len(band_ids)) uint64 bucket key of every record in each band (the band number is mixed in)."""
    mults = mix64(np.arange(1, rows + 1, dtype=np.uint64)) | np.uint64(1)
    ids = range(bands) if band_ids is None else band_ids
    out = np.empty((sig.shape[0], len(ids)), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c, band in enumerate(ids):
            cols = sig[:, band * rows:(band + 1) * rows].astype(np.uint64)
            out[:, c] = mix64((cols * mults[None, :]).sum(axis=1, dtype=np.uint64) ^ np.uint64(band))
    return out


def run_pairs(members: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Pairs within buckets, given record ids sorted by bucket and ``same[k]`` = member k shares
    member k-1's bucket: each member pairs with its bucket's first member and its predecessor."""
    n = len(members)
    if n == 0 or not same.any():
        return np.zeros((0, 2), dtype=np.int64)
    pos = np.arange(n)
    first = np.maximum.accumulate(np.where(same, 0, pos))  # start of each bucket run
    idx = np.flatnonzero(same)
    prev = idx[first[idx] != idx - 1]
    return np.concatenate([np.stack([members[first[idx]], members[idx]], axis=1),
                           np.stack([members[prev - 1], members[prev]], axis=1)]).astype(np.int64)


def unique_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    """Pairs as ``i < j``, sorted and without repeats."""
    if len(pairs) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.sort(pairs.astype(np.int64), axis=1)
    code = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack([code // n, code % n], axis=1)


def candidate_pairs(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(m × 2) int64 pairs ``i < j`` of records that share a bucket in at least one band."""
    n = sig.shape[0]
    if bands * rows > sig.shape[1]:
        raise UserError(f"--lsh-bands × --lsh-rows = {bands * rows} exceeds --num-perm {sig.shape[1]}")
    found: list[np.ndarray] = []
    for band in range(bands):
        key = band_keys(sig, bands, rows, [band])[:, 0]
        order = np.argsort(key, kind="stable")
        ks = key[order]
        same = np.zeros(n, dtype=bool)
        same[1:] = ks[1:] == ks[:-1]
        found.append(run_pairs(order, same))
    return unique_pairs(np.concatenate(found) if found else np.zeros((0, 2)), n)


def estimated_jaccard(sig: np.ndarray, pairs: np.ndarray, block: int = 65536) -> np.ndarray:
    """Fraction of equal signature slots for each pair (an unbiased Jaccard estimate)."""
    out = np.empty(len(pairs), dtype=np.float64)
    for s in range(0, len(pairs), block):
        p = pairs[s:s + block]
        out[s:s + block] = (sig[p[:, 0]] == sig[p[:, 1]]).mean(axis=1)
    return out


def exact_jaccard(hashes: np.ndarray, owner: np.ndarray, n_records: int, pairs: np.ndarray) -> np.ndarray:
    """True Jaccard similarity of the shingle sets of each pair."""
    counts = np.bincount(owner, minlength=n_records)
    offsets = np.zeros(n_records + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    sets: dict[int, np.ndarray] = {}

    def get(i: int) -> np.ndarray:
        if i not in sets:
            sets[i] = np.unique(hashes[offsets[i]:offsets[i + 1]])
        return sets[i]

    out = np.empty(len(pairs), dtype=np.float64)
    for k, (i, j) in enumerate(pairs.tolist()):
        a, b = get(i), get(j)
        inter = len(np.intersect1d(a, b, assume_unique=True))
        out[k] = inter / (len(a) + len(b) - inter)
    return out
