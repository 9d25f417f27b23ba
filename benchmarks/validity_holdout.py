"""Two-fold held-out check of a cheap change to the verification rule (used by validity_eval.py --holdout).

The labelled tasks are split in two halves by a stable hash of their id. On one half (the *tuning*
half) a threshold is chosen: among the candidates whose drop precision and keep recall are not lower
than the default's there, the one that drops the most invalid tasks (highest drop recall; ties go to
the default). It is then scored on the *other* half, next to the default, and the halves swap. A
change is worth making only if it wins on both held-out halves.
"""

from __future__ import annotations

import hashlib
from typing import Any

CANDIDATES = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def half_of(task_id: str) -> int:
    return hashlib.sha256(task_id.encode()).digest()[0] % 2


def _fig(rows: list[dict[str, Any]], th: float) -> dict[str, Any]:
    from validity_eval import figures

    return figures([r["score"] >= th for r in rows], [bool(r["valid"]) for r in rows])


def _ge(a: float | None, b: float | None) -> bool:
    return (a if a is not None else 0.0) >= (b if b is not None else 0.0)


def choose(rows: list[dict[str, Any]], default: float) -> float:
    base = _fig(rows, default)
    best, best_recall = default, base["drop_detects_invalid"]["recall"] or 0.0
    for th in CANDIDATES:
        f = _fig(rows, th)
        ok = (_ge(f["drop_detects_invalid"]["precision"], base["drop_detects_invalid"]["precision"])
              and _ge(f["keep_finds_valid"]["recall"], base["keep_finds_valid"]["recall"]))
        if ok and (f["drop_detects_invalid"]["recall"] or 0.0) > best_recall:
            best, best_recall = th, f["drop_detects_invalid"]["recall"] or 0.0
    return best


def holdout_report(rows: list[dict[str, Any]], default: float) -> list[dict[str, Any]]:
    halves = [[r for r in rows if half_of(r["task_id"]) == h] for h in (0, 1)]
    out = []
    for tune, test in ((0, 1), (1, 0)):
        th = choose(halves[tune], default)
        out.append({"tuned_on_half": tune, "chosen_threshold": th, "tuning_tasks": len(halves[tune]),
                    "test_tasks": len(halves[test]), "test_default": _fig(halves[test], default),
                    "test_chosen": _fig(halves[test], th)})
    return out
