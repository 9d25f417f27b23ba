"""Round bookkeeping for ``active-loop`` and the learning curve drawn from finished rounds.

A run directory ``DIR`` holds one folder per strategy, each holding one folder per round::

    DIR/curve.json, DIR/learning_curve.png          every strategy's finished rounds
    DIR/<strategy>/loop.json                        the settings (a re-run must match them)
    DIR/<strategy>/round_<r>/select/                scores.jsonl, selected.jsonl, selected_examples.jsonl
    DIR/<strategy>/round_<r>/train.jsonl            every task selected in rounds 1..r
    DIR/<strategy>/round_<r>/model/                 trained from the base (usable as hf:...)
    DIR/<strategy>/round_<r>/eval/                  predictions.jsonl, results.json
    DIR/<strategy>/round_<r>/round.json             the round's record, written last = "finished"

Each step's own files say whether it is done, so a killed round resumes at its first unfinished
step; the steps themselves resume inside (scores per task, training from its checkpoint, eval
per instance).

>>> import tempfile
>>> rp = RoundPaths(Path(tempfile.mkdtemp()) / "uncertainty" / "round_1")
>>> round_state(rp)
{'selected': False, 'trained': False, 'evaluated': False, 'finished': False}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instructkit.errors import UserError
from instructkit.runs import atomic_write_json

ROUND_FILE = "round.json"
LOOP_FILE = "loop.json"
CURVE_FILE = "curve.json"
CURVE_PNG = "learning_curve.png"
MODEL_MARKER = "instructkit_model.json"  # = instructkit.llm.hf_load.MARKER (not imported: keeps this light)
_ROUND_DIR = re.compile(r"^round_(\d+)$")


@dataclass(frozen=True)
class RoundPaths:
    """Where round ``r``'s files live (``root`` = ``DIR/<strategy>/round_<r>``)."""

    root: Path

    @classmethod
    def of(cls, out: str | Path, strategy: str, r: int) -> "RoundPaths":
        return cls(Path(out) / strategy / f"round_{r}")

    @property
    def number(self) -> int:
        m = _ROUND_DIR.match(self.root.name)
        return int(m.group(1)) if m else 0

    @property
    def select(self) -> Path:
        return self.root / "select"

    @property
    def selected(self) -> Path:
        return self.select / "selected.jsonl"

    @property
    def selected_examples(self) -> Path:
        return self.select / "selected_examples.jsonl"

    @property
    def train_data(self) -> Path:
        return self.root / "train.jsonl"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    @property
    def record(self) -> Path:
        return self.root / ROUND_FILE


def _manifest_status(folder: Path) -> str | None:
    p = folder / "manifest.json"
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8")).get("status")
    except json.JSONDecodeError:
        return None


def round_state(rp: RoundPaths) -> dict[str, bool]:
    """Which steps of a round are complete, judged by the files each step writes last."""
    return {
        "selected": rp.selected.is_file() and rp.selected_examples.is_file()
        and _manifest_status(rp.select) == "complete",
        "trained": (rp.model / MODEL_MARKER).is_file(),
        "evaluated": (rp.eval / "results.json").is_file() and _manifest_status(rp.eval) == "complete",
        "finished": rp.record.is_file(),
    }


def read_record(rp: RoundPaths) -> dict[str, Any] | None:
    if not rp.record.is_file():
        return None
    try:
        return json.loads(rp.record.read_text(encoding="utf-8"))
    except json.JSONDecodeError:  # only ever written atomically: a foreign file
        raise UserError(f"{rp.record}: not valid JSON; delete it to redo that round's record") from None


def existing_rounds(strategy_dir: Path) -> list[int]:
    """Round numbers with a folder under ``strategy_dir`` (finished or not), ascending."""
    if not strategy_dir.is_dir():
        return []
    return sorted(int(m.group(1)) for d in strategy_dir.iterdir()
                  if d.is_dir() and (m := _ROUND_DIR.match(d.name)))


def selected_ids(path: Path) -> list[str]:
    """Task ids of a ``selected.jsonl``, in rank order."""
    from instructkit.runs import read_jsonl

    return [str(r["task_id"]) for r in read_jsonl(path)]


def check_settings(strategy_dir: Path, settings: dict[str, Any]) -> None:
    """Record the settings of a strategy run once; a re-run with other settings is refused.

    ``settings`` must not hold the number of rounds: asking for more rounds later extends the run.
    """
    p = strategy_dir / LOOP_FILE
    if p.is_file():
        old = json.loads(p.read_text(encoding="utf-8"))
        if old != json.loads(json.dumps(settings, default=str)):
            diff = sorted(k for k in set(old) | set(settings) if old.get(k) != json.loads(
                json.dumps(settings.get(k), default=str)))
            raise UserError(f"{strategy_dir} holds a run with other settings ({', '.join(diff)}); "
                            "use a new --out, or delete that folder to start over")
        return
    atomic_write_json(p, settings)


# -- the learning curve ---------------------------------------------------------------------------

def build_curve(out: str | Path) -> dict[str, Any]:
    """Every strategy's finished rounds under ``out`` as curve points (x = training tasks so far).

    >>> build_curve("/nonexistent")["strategies"]
    {}
    """
    out = Path(out)
    strategies: dict[str, list[dict[str, Any]]] = {}
    if out.is_dir():
        for sdir in sorted(d for d in out.iterdir() if d.is_dir()):
            points = []
            for r in existing_rounds(sdir):
                rec = read_record(RoundPaths(sdir / f"round_{r}"))
                if rec is None:
                    continue
                ev = rec.get("eval") or {}
                points.append({"round": r, "tasks": len(rec.get("train_tasks") or []),
                               "examples": rec.get("train_examples"), "rougeL": ev.get("rougeL"),
                               "exact_match": ev.get("exact_match_classification"),
                               "selected": rec.get("selected") or []})
            if points:
                strategies[sdir.name] = sorted(points, key=lambda p: (p["tasks"], p["round"]))
    return {"metric": "overall ROUGE-L on the eval tasks", "x": "number of training tasks",
            "strategies": strategies}


def plot_curve(curve: dict[str, Any], png: str | Path) -> Path:
    """Overall ROUGE-L vs number of training tasks, one line per strategy (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for name, pts in curve["strategies"].items():
        pts = [p for p in pts if p["rougeL"] is not None]
        ax.plot([p["tasks"] for p in pts], [p["rougeL"] for p in pts], marker="o", label=name)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # task counts: no 2.25 tasks
    ax.set_xlabel("number of training tasks")
    ax.set_ylabel("overall ROUGE-L (eval tasks)")
    ax.set_title("Active instruction tuning: learning curve")
    ax.grid(alpha=0.3)
    if curve["strategies"]:
        ax.legend()
    fig.tight_layout()
    png = Path(png)
    import os

    tmp = png.with_name(f".{png.stem}.tmp-{os.getpid()}.png")  # two strategies may share DIR
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(png)
    return png


def write_curve(out: str | Path) -> dict[str, Any]:
    """Rebuild ``out/curve.json`` and ``out/learning_curve.png`` from every finished round."""
    out = Path(out)
    curve = build_curve(out)
    atomic_write_json(out / CURVE_FILE, curve)
    plot_curve(curve, out / CURVE_PNG)
    return curve
