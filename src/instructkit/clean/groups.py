"""Duplicate groups from similar pairs (union-find) and the deterministic kept representative.

>>> components(5, np.array([[0, 3], [3, 4]])).tolist()
[0, 1, 2, 0, 0]
>>> representatives(np.array([0, 1, 2, 0, 0]), np.array([0.1, 0.0, 0.0, 0.9, 0.9])).tolist()
[3, 1, 2, 3, 3]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from instructkit.errors import UserError
from instructkit.records import Example

QUALITY_KEYS = ("quality", "score")


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components of the graph on ``n`` nodes with edges ``pairs``.

    Returns, for each node, the smallest node index of its component (so labels are canonical:
    the same edges in any order give the same labels). Vectorized min-label propagation with
    pointer jumping; converges in O(log n) rounds on the chains near-duplicate graphs produce.
    """
    labels = np.arange(n, dtype=np.int64)
    if n == 0 or len(pairs) == 0:
        return labels
    i, j = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    while True:
        li, lj = labels[i], labels[j]
        m = np.minimum(li, lj)
        before = labels.copy()
        np.minimum.at(labels, li, m)  # hook the larger root under the smaller
        np.minimum.at(labels, lj, m)
        np.minimum.at(labels, i, m)
        np.minimum.at(labels, j, m)
        while True:  # pointer jumping: every node points at its root
            nxt = labels[labels]
            if np.array_equal(nxt, labels):
                break
            labels = nxt
        if np.array_equal(labels, before) and np.array_equal(labels[i], labels[j]):
            return labels


def _lookup(meta: dict[str, Any], path: str) -> Any:
    cur: Any = meta
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _as_float(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def quality_scores(examples: Sequence[Example], field: str | None = None) -> tuple[np.ndarray | None, str | None]:
    """Per-example quality from ``meta`` (dotted path ``field``, or auto-detected ``quality``/``score``).

    Returns (scores with -inf where missing, the field used) or (None, None) when no example has one.
    A named field that no example carries is a UserError.
    """
    keys = [field] if field else list(QUALITY_KEYS)
    for key in keys:
        vals = [_as_float(_lookup(ex.meta, key)) for ex in examples]
        if any(v is not None for v in vals):
            return np.array([-math.inf if v is None else v for v in vals], dtype=np.float64), key
    if field:
        raise UserError(f"--quality-field '{field}': no example has a numeric meta.{field}; "
                        f"check the name (dotted paths reach nested keys) or leave it out")
    return None, None


def representatives(labels: np.ndarray, quality: np.ndarray | None = None) -> np.ndarray:
    """For each node, the kept member of its group: highest quality, ties (and no quality) -> first."""
    n = len(labels)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.arange(n)
    q = np.zeros(n) if quality is None else np.asarray(quality, dtype=np.float64)
    order = np.lexsort((idx, -q, labels))  # by group, then best quality, then input order
    first = np.ones(n, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    rep_of_label = np.empty(n, dtype=np.int64)
    rep_of_label[labels[order][first]] = order[first]
    return rep_of_label[labels]
