"""The Task Map: every scored task placed at (prompt uncertainty, prediction probability).

Regions (thresholds are ours; the paper leaves them open):

* **ambiguous**: PU > PU threshold (default: the median PU of the scored tasks) — prompt-sensitive
  tasks, the ones Active-IT found most useful to train on;
* **easy**: PU ≤ PU threshold and PP ≥ PP threshold (default: the median PP);
* **difficult**: PU ≤ PU threshold and PP < PP threshold.

>>> assign_regions([{"task_id": "a", "pu": 0.3, "pp": 0.5}, {"task_id": "b", "pu": 0.1, "pp": 0.9},
...                 {"task_id": "c", "pu": 0.1, "pp": 0.2}])[1]
{'ambiguous': ['a'], 'easy': ['b'], 'difficult': ['c']}
"""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instructkit.errors import UserError

REGIONS = ("ambiguous", "easy", "difficult")
_COLORS = {"ambiguous": "tab:red", "easy": "tab:green", "difficult": "tab:blue"}


@dataclass
class Thresholds:
    pu: float
    pp: float
    pu_rule: str  # "median" or "given"
    pp_rule: str


def region_of(pu: float, pp: float, th: Thresholds) -> str:
    if pu > th.pu:
        return "ambiguous"
    return "easy" if pp >= th.pp else "difficult"


def assign_regions(rows: list[dict[str, Any]], pu_threshold: float | None = None,
                   pp_threshold: float | None = None) -> tuple[Thresholds, dict[str, list[str]]]:
    """Thresholds used and the task ids in each region (rows need task_id, pu, pp)."""
    if not rows:
        raise UserError("no scored tasks to map")
    th = Thresholds(pu=pu_threshold if pu_threshold is not None else statistics.median(r["pu"] for r in rows),
                    pp=pp_threshold if pp_threshold is not None else statistics.median(r["pp"] for r in rows),
                    pu_rule="given" if pu_threshold is not None else "median",
                    pp_rule="given" if pp_threshold is not None else "median")
    regions: dict[str, list[str]] = {r: [] for r in REGIONS}
    for r in rows:
        regions[region_of(r["pu"], r["pp"], th)].append(r["task_id"])
    return th, regions


def plot_taskmap(rows: list[dict[str, Any]], th: Thresholds, path: Path, title: str = "") -> None:
    """Scatter PU × PP coloured by region, with the threshold lines (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    for reg in REGIONS:
        pts = [r for r in rows if region_of(r["pu"], r["pp"], th) == reg]
        if pts:
            ax.scatter([r["pu"] for r in pts], [r["pp"] for r in pts], s=28, alpha=0.8,
                       color=_COLORS[reg], label=f"{reg} ({len(pts)})")
    if len(rows) <= 40:  # names stay readable only on small maps
        for r in rows:
            ax.annotate(str(r["task_id"])[:24], (r["pu"], r["pp"]), fontsize=6, alpha=0.7,
                        xytext=(3, 3), textcoords="offset points")
    ax.axvline(th.pu, color="gray", ls="--", lw=0.8)
    ax.axhline(th.pp, color="gray", ls=":", lw=0.8)
    ax.set_xlabel("prompt uncertainty (PU)")
    ax.set_ylabel("prediction probability (PP)")
    ax.set_title(title or f"Task map: {len(rows)} tasks (PU split {th.pu:.4f}, PP split {th.pp:.4f})")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


def write_taskmap(scores: str | Path, out: str | Path, pu_threshold: float | None = None,
                  pp_threshold: float | None = None) -> dict[str, Any]:
    """Plot ``scores`` (a scores.jsonl or its folder) to ``out`` (PNG) and write ``.csv`` / ``.json`` beside it.

    >>> write_taskmap("runs/round1/scores.jsonl", "runs/round1/map.png")   # doctest: +SKIP
    """
    from instructkit.run_contract import check_out_file
    from instructkit.runs import atomic_write_json, atomic_write_text
    from instructkit.select.active.uncertainty import read_scores

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out}: give a .png file name (the table goes beside it as .csv and .json)")
    check_out_file(out)  # a folder that cannot be written: one line before the scores are read
    rows = sorted(read_scores(scores).values(), key=lambda r: r["task_id"])
    th, regions = assign_regions(rows, pu_threshold, pp_threshold)
    plot_taskmap(rows, th, out)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["task_id", "region", "kind", "pu", "pp", "perplexity", "n"])
    for r in sorted(rows, key=lambda r: (REGIONS.index(region_of(r["pu"], r["pp"], th)), -r["pu"])):
        w.writerow([r["task_id"], region_of(r["pu"], r["pp"], th), r.get("kind", ""), f"{r['pu']:.6f}",
                    f"{r['pp']:.6f}", f"{r['perplexity']:.4f}" if r.get("perplexity") else "", r.get("n", "")])
    atomic_write_text(out.with_suffix(".csv"), buf.getvalue())
    summary = {"tasks": len(rows), "thresholds": {"pu": th.pu, "pp": th.pp, "pu_rule": th.pu_rule,
                                                  "pp_rule": th.pp_rule},
               "counts": {k: len(v) for k, v in regions.items()}, "regions": regions,
               "png": str(out), "csv": str(out.with_suffix(".csv"))}
    atomic_write_json(out.with_suffix(".json"), summary)
    return summary
