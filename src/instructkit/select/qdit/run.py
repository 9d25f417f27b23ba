"""The ``select qdit`` pipeline: load → embed → score → select → compare → write the run directory.

Outputs (all written atomically, so a killed run leaves the old file or the new one, never half):
``selected.jsonl`` (examples with ``meta.qdit = {rank, gain, quality, quality_scaled}``),
``summary.json`` (objective, diversity, mean and worst-10% quality vs random and quality-only
selections of the same size), and with a sweep ``sweep.json``, ``sweep.csv``, ``sweep.png``.
Embeddings and scores are cached on disk, so re-running costs no model calls.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from instructkit.errors import UserError
from instructkit.records import Example
from instructkit.select.qdit.select import approx_check, diversity_of, qdit_select

TEXT_MODES = ("instruction", "instruction+input", "instruction+input+output", "output")


def text_of(ex: Example, mode: str) -> str:
    """The text that is embedded for ``ex`` under ``--text MODE``."""
    if mode == "instruction":
        return ex.instruction
    if mode == "instruction+input":
        return ex.user_turn()
    if mode == "instruction+input+output":
        return "\n\n".join(p for p in (ex.instruction, ex.input, ex.output) if p)
    if mode == "output":
        return ex.output
    raise UserError(f"--text '{mode}' not understood; use one of {', '.join(TEXT_MODES)}")


EMBED_CHUNK = 2048  # texts per embed_texts call when embedding a pool


def quality_stats(q: np.ndarray | None, picks: list[int] | np.ndarray) -> dict[str, float | None]:
    """Mean and worst-10% (mean of the lowest ceil(10%)) quality of a selection, on the raw scale."""
    if q is None or len(picks) == 0:
        return {"mean_quality": None, "worst10_quality": None}
    vals = np.sort(np.asarray(q, dtype=np.float64)[np.asarray(picks)])
    tail = vals[: max(1, math.ceil(0.1 * len(vals)))]
    return {"mean_quality": float(vals.mean()), "worst10_quality": float(tail.mean())}


def describe(X: np.ndarray, q: np.ndarray | None, picks: list[int] | np.ndarray, seed: int) -> dict[str, Any]:
    div, exact = diversity_of(X, picks, seed=seed)
    return {"diversity": div, "diversity_exact": exact, **quality_stats(q, picks)}


@dataclass
class QditResult:
    selection: Any
    summary: dict[str, Any]
    sweep: list[dict[str, Any]] | None


def run_selection(X: np.ndarray, q: np.ndarray | None, k: int, alpha: float, engine: str, seed: int,
                  sweep: list[float] | None = None, bar: Any = None, select: Any = None,
                  check: int = 20_000) -> QditResult:
    """Select, then compare with random and quality-only selections of the same size.

    ``select`` replaces ``qdit_select`` (same contract), e.g. an executor's GreeDi on Ray. When the
    approx engine ran, ``check`` > 0 also compares it with exact greedy on that many random pool rows
    (``summary["approx_check"]``, see :func:`~instructkit.select.qdit.select.approx_check`).
    """
    select = select or qdit_select
    sel = select(X, q, k, alpha=alpha, engine=engine, seed=seed, progress=bar)
    n, kk = len(X), len(sel.indices)
    rng = np.random.default_rng(seed)
    rand = np.sort(rng.choice(n, size=kk, replace=False))
    qonly = qdit_select(X, q, kk, alpha=1.0).indices if q is not None else None
    summary: dict[str, Any] = {
        "pool": n, "k": kk, "alpha": alpha, "engine": sel.engine, "seed": seed,
        "objective": sel.objective, "quality_term": sel.quality_term,
        "qdit": describe(X, q, sel.indices, seed), "random": describe(X, q, rand, seed),
        "quality_only": describe(X, q, qonly, seed) if qonly is not None else None,
        "engine_stats": sel.stats,
    }
    if sel.engine == "approx" and check > 0:
        summary["approx_check"] = approx_check(X, sel.quality_scaled, kk, alpha, sub=check, seed=seed)
    rows = None
    if sweep:
        rows = []
        for a in sweep:
            s = select(X, q, kk, alpha=a, engine=engine, seed=seed)
            rows.append({"alpha": a, "objective": s.objective, **describe(X, q, s.indices, seed)})
    return QditResult(sel, summary, rows)


def selected_records(examples: list[Example], q: np.ndarray | None, sel: Any, order: str) -> list[dict]:
    if order not in ("input", "selection"):
        raise UserError(f"--order '{order}' not understood; use input or selection")
    ranked = list(enumerate(sel.indices, 1))
    if order == "input":
        ranked.sort(key=lambda t: t[1])
    out = []
    for rank, i in ranked:
        d = examples[i].to_dict()
        d["meta"] = {**d["meta"], "qdit": {
            "rank": rank, "gain": sel.gains[rank - 1],
            "quality": None if q is None else float(q[i]),
            "quality_scaled": float(sel.quality_scaled[i]) if sel.quality_scaled is not None else None}}
        out.append(d)
    return out


def write_sweep(out: Path, rows: list[dict[str, Any]]) -> None:
    from instructkit.runs import atomic_write_json, atomic_write_text

    atomic_write_json(out / "sweep.json", rows)
    buf = io.StringIO()
    cols = ["alpha", "objective", "diversity", "mean_quality", "worst10_quality", "diversity_exact"]
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "sweep.csv", buf.getvalue())
    plot_sweep(rows, out / "sweep.png")


def plot_sweep(rows: list[dict[str, Any]], path: Path) -> None:
    """Diversity, mean quality and worst-10% quality against α (matplotlib, Agg)."""
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = [r["alpha"] for r in rows]
    fig, ax1 = plt.subplots(figsize=(6.4, 4.0))
    ax1.plot(a, [r["diversity"] for r in rows], "o-", color="tab:blue", label="diversity D(A)")
    ax1.set_xlabel("alpha (0 = diversity only, 1 = quality only)")
    ax1.set_ylabel("diversity (mean coverage)", color="tab:blue")
    if rows and rows[0].get("mean_quality") is not None:
        ax2 = ax1.twinx()
        ax2.plot(a, [r["mean_quality"] for r in rows], "s-", color="tab:green", label="mean quality")
        ax2.plot(a, [r["worst10_quality"] for r in rows], "^--", color="tab:red", label="worst-10% quality")
        ax2.set_ylabel("quality")
        ax2.legend(loc="lower right")
    ax1.legend(loc="lower left")
    ax1.set_title("QDIT trade-off")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


@dataclass(frozen=True)
class QditSettings:
    """What one ``select qdit`` run selects and how: the command's flags and a recipe stage's options."""

    k: int
    alpha: float = 0.7
    quality: str | None = None
    embedder: str = "minilm"
    text: str = "instruction"
    engine: str = "auto"
    seed: int = 0
    order: str = "input"
    sweep: list[float] | None = None
    approx_check: int = 20_000
    model: str = "local"
    concurrency: int = 4

    @property
    def judge_model(self) -> str | None:
        """The model the quality scorer calls, if it calls one."""
        from instructkit.score import needs_model

        return self.model if self.quality and needs_model(self.quality) else None

    def config(self, input: str) -> dict[str, Any]:
        """The run's ``manifest.config``."""
        return {"input": input, "k": self.k, "alpha": self.alpha, "quality": self.quality,
                "embedder": self.embedder, "text": self.text, "engine": self.engine, "seed": self.seed,
                "order": self.order, "sweep": self.sweep,
                "approx_check": self.approx_check if self.engine in ("auto", "approx") else None,
                "model": self.judge_model}


def run_qdit(examples: list[Example], input: str, out: str | Path, cfg: QditSettings, *, executor: Any = None,
             partitions: int | None = None, llm_options: Any = None, bad_rows: Any = (),
             argv: list[str] | None = None) -> tuple[QditResult, int]:
    """Score, embed, select and write the run directory ``out`` (on ``executor``: local or Ray);
    the one ``select qdit`` run, for the command and the recipe stage. Returns (result, rows written)."""
    from instructkit.rowcheck import reject_bad_rows
    from instructkit.runs import RunDir, atomic_write_json, atomic_write_jsonl

    if executor is None:
        from instructkit.executor import LocalExecutor

        executor = LocalExecutor()
    with RunDir(out, command="select qdit", config=cfg.config(input), argv=argv) as run:
        n_bad = reject_bad_rows(run, list(bad_rows))
        q, score_counts, usage = _scores(examples, input, cfg, run, executor, llm_options)
        res = _select(examples, q, cfg, executor, partitions)
        res.summary.update({"input": input, "quality": cfg.quality, "scores": score_counts,
                            "executor": executor.describe(), "requested_k": cfg.k, "bad_rows": n_bad})
        if cfg.k > len(examples):  # a request that cannot be met is said, in the summary and on the terminal
            res.summary["note"] = f"--k {cfg.k} but the pool holds {len(examples)} examples: selected all of them"
        if not cfg.quality:
            res.summary["note_alpha"] = "no --quality: alpha has no effect (diversity only)"
        n_written = atomic_write_jsonl(run.path / "selected.jsonl",
                                       selected_records(examples, q, res.selection, cfg.order))
        outputs = {"examples": "selected.jsonl", "summary": "summary.json"}
        if res.sweep is not None:
            write_sweep(run.path, res.sweep)
            res.summary["sweep"] = res.sweep
            outputs.update(sweep="sweep.json", sweep_table="sweep.csv")
        atomic_write_json(run.path / "summary.json", res.summary)
        run.finish(outputs=outputs, counts={"pool": len(examples), "requested": cfg.k, "selected": n_written,
                                            "bad_rows": n_bad}, usage=usage, executor=executor.describe())
    return res, n_written


def _scores(examples: list[Example], input: str, cfg: QditSettings, run: Any, ex: Any,
            llm_options: Any) -> tuple[np.ndarray | None, Any, Any]:
    """(scores, their counts, this run's model usage) of ``cfg.quality``; no quality: all None."""
    from instructkit import ui
    from instructkit.score import needs_model, score_examples

    if not cfg.quality:
        return None, None, None
    if ex.remote and (needs_model(cfg.quality) or cfg.quality.startswith("reward:")):
        with ui.progress(f"scoring ({cfg.quality}, {ex.name})", total=len(examples)) as bar:
            rep = ex.score(examples, cfg.quality, model=cfg.model, cache_path=str(run.cache_path),
                           concurrency=cfg.concurrency, options=llm_options)
            bar.advance(len(examples))
        return rep.scores, rep.counts, getattr(rep, "usage", None)
    llm = None
    if needs_model(cfg.quality):
        from instructkit.llm import open_model
        from instructkit.llm.usage import UsageLedger

        llm = open_model(cfg.model, cache=run.cache_path, ledger=UsageLedger(), options=llm_options,
                         concurrency=cfg.concurrency)
    with ui.progress(f"scoring ({cfg.quality})", total=len(examples), ledger=llm.ledger if llm else None) as bar:
        rep = score_examples(examples, cfg.quality, llm=llm, progress=bar.advance, where=input)
    if llm is None:
        return rep.scores, rep.counts, None
    run.record_usage(llm.ledger)  # scores are the costly part: keep their accounting if a later step fails
    return rep.scores, rep.counts, llm.ledger


def _select(examples: list[Example], q: np.ndarray | None, cfg: QditSettings, ex: Any,
            partitions: int | None) -> QditResult:
    """Embed (locally or as the executor's batches) and select."""
    from instructkit import ui

    from instructkit.embed import EmbedStage
    from instructkit.select.qdit.greedi import selector

    with ui.progress("embedding", total=len(examples)) as bar:
        # one stage on any executor: batches here, or map_batches over embedding actors on Ray
        stage = EmbedStage(cfg.embedder, batch_size=EMBED_CHUNK)
        X = np.stack(ex.map(stage, [text_of(e, cfg.text) for e in examples], progress=bar.advance))
    with ui.progress("selecting", total=min(cfg.k, len(examples))) as bar:
        return run_selection(X, q, cfg.k, cfg.alpha, cfg.engine, cfg.seed, sweep=cfg.sweep, bar=bar.advance,
                             select=selector(ex, partitions), check=cfg.approx_check)
