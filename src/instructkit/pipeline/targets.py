"""``--target N``: keep a generator going until N records passed every filter, at most ``--max-calls`` calls.

Dynosaur grows by datasets: the sources are processed a few at a time (each resumable run adds only the
new ones) until the instances reach N. GLAN grows by nodes: each round asks for more questions per
syllabus (and, when that adds nothing, more subjects), and resumes, so earlier nodes cost nothing.
The first N accepted records go to ``target.jsonl``, which the manifest names as the run's examples;
the manifest's ``target`` block reports accepted, rejected and calls spent. The call cap is a
:class:`~instructkit.llm.usage.Budget` the door enforces, counting the run directory's earlier calls.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from instructkit.llm.usage import Budget, CallMeter, metering
from instructkit.runs import atomic_write_json, atomic_write_jsonl, read_jsonl

MAX_GLAN_ROUNDS = 8


def _manifest(out: Path) -> dict[str, Any]:
    try:
        return json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _calls_so_far(out: Path) -> int:
    m = _manifest(out)
    usage = m.get("usage_total") or m.get("usage") or {}
    return int(usage.get("calls", 0))


def _count_lines(path: Path) -> int:
    return sum(1 for _ in read_jsonl(path)) if path.is_file() else 0


def finish_target(out: Path, records_file: str, target: int | None, max_calls: int | None, calls_before: int,
                  meter: CallMeter, reached_by: str) -> dict[str, Any]:
    """Write ``target.jsonl`` (the first N accepted records) and the manifest's ``target`` block
    (``target`` None: only a call cap was set, every accepted record is kept)."""
    accepted = list(read_jsonl(out / records_file)) if (out / records_file).is_file() else []
    keep = accepted[:target] if target is not None else accepted
    atomic_write_jsonl(out / "target.jsonl", keep)
    reached = target is None or len(accepted) >= target
    block = {"target": target, "max_calls": max_calls, "accepted": len(accepted), "written": len(keep),
             "rejected": _count_lines(out / "rejected.jsonl"), "calls": calls_before + meter.ledger.calls,
             "calls_this_run": meter.ledger.calls, "reached": reached,
             "stopped": None if reached else reached_by}
    m = _manifest(out)
    m["target"] = block
    m["outputs"] = {**(m.get("outputs") or {}), "examples": "target.jsonl"}
    atomic_write_json(out / "manifest.json", m)
    return block


def dynosaur_to_target(cards: list, out: str | Path, target: int | None, max_calls: int | None,
                       run_some: Callable[[list], dict[str, Any]], step: int = 1) -> dict[str, Any]:
    """Run Dynosaur over growing prefixes of ``cards`` until ``target`` instances (or the call cap)."""
    out = Path(out)
    before = _calls_so_far(out)
    budget = Budget(max_calls=max_calls, spent_calls=before) if max_calls else None
    meter, end, why = CallMeter(budget), 0, "sources exhausted"
    with metering(meter):
        while end < len(cards):
            end = min(len(cards), end + max(1, step))
            manifest = run_some(cards[:end])
            if target is not None and int((manifest.get("counts") or {}).get("instances", 0)) >= target:
                break
            if budget is not None and budget.exhausted:
                why = "max_calls"
                break
        else:
            if budget is not None and budget.exhausted:
                why = "max_calls"
    return finish_target(out, "instances.jsonl", target, max_calls, before, meter, why)


def glan_to_target(cfg, out: str | Path, target: int | None, max_calls: int | None,
                   run_once: Callable[[Any], Any]) -> dict[str, Any]:
    """Run GLAN rounds, each asking for more nodes, until ``target`` examples (or the call cap)."""
    out = Path(out)
    before = _calls_so_far(out)
    budget = Budget(max_calls=max_calls, spent_calls=before) if max_calls else None
    meter, last, why = CallMeter(budget), -1, f"{MAX_GLAN_ROUNDS} rounds"
    with metering(meter):
        for _ in range(MAX_GLAN_ROUNDS):
            result = run_once(cfg)
            n = len(result.examples)
            if target is None or n >= target:
                break
            if budget is not None and budget.exhausted:
                why = "max_calls"
                break
            syllabi = max(1, int(result.counts.get("syllabi_usable", 0)))
            if n > last:  # more questions per syllabus fill the gap fastest
                cfg = replace(cfg, questions_per_syllabus=cfg.questions_per_syllabus
                              + math.ceil((target - n) / syllabi))
            else:  # the syllabi are drawn out: widen the tree
                cfg = replace(cfg, subject_samples=cfg.subject_samples + 1,
                              max_subjects=(cfg.max_subjects + 1) if cfg.max_subjects else None)
            last = n
    return finish_target(out, "examples.jsonl", target, max_calls, before, meter, why)
