"""``active-loop``: Active Instruction Tuning rounds, automated end to end.

Round r (1-based):

1. **score** every task not selected yet with the *current* model - the base in round 1, the model
   trained in round r-1 afterwards - through the ``hf:`` backend, so the trained weights are what
   is scored (:func:`instructkit.select.active.uncertainty.select_active`, which resumes per task);
2. **select** the top k by the strategy (uncertainty = highest prompt uncertainty, random, high- or
   low-perplexity);
3. **train from the base** on every task selected in rounds 1..r - as the Active-IT paper does, so
   each round's model sees the whole selected pool once per epoch instead of drifting round by
   round (:func:`instructkit.loop.train.train`, which resumes from its checkpoint);
4. **evaluate** the new model on the held-out eval tasks (:func:`instructkit.loop.evaluate.evaluate`,
   which resumes per instance);
5. **record** ``round.json`` and redraw ``DIR/curve.json`` + ``DIR/learning_curve.png``.

>>> cfg = LoopConfig(tasks=["examples/active"], eval_tasks=["held-out/"], out="runs/loop",
...                  k=2, rounds=3, steps=60)                              # doctest: +SKIP
>>> run_active_loop(cfg)["rounds"][-1]["eval"]["rougeL"]                    # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instructkit.errors import IncompleteStepError, UserError
from instructkit.loop.rounds import (
    RoundPaths, check_settings, read_record, round_state, selected_ids, write_curve,
)
from instructkit.loop.settings import TrainEvalSettings


@dataclass
class LoopConfig(TrainEvalSettings):
    """Everything an ``active-loop`` run depends on (``rounds`` may grow between re-runs)."""

    tasks: list[str]
    eval_tasks: list[str]
    out: str
    k: int
    rounds: int
    strategy: str = "uncertainty"
    base: str = "hf:embedded"
    # scoring (Active-IT's n, K, word-drop probability, greedy answer length)
    instances: int = 10
    perturbations: int = 10
    drop: float = 0.2
    max_tokens: int = 64
    cls_ratio: float | None = None
    # training and evaluation: TrainEvalSettings

    # settings() = what must stay the same for a re-run to resume: asking for more rounds extends a run
    NOT_SETTINGS = ("out", "rounds", "save_every")


def _validate(cfg: LoopConfig):
    from instructkit.loop.evaluate import load_tasks as load_eval_tasks
    from instructkit.llm.hf_load import resolve
    from instructkit.select.active.uncertainty import STRATEGIES
    from instructkit.select.active.tasks_io import load_tasks

    if cfg.strategy not in STRATEGIES:
        raise UserError(f"--strategy {cfg.strategy}: use one of {', '.join(STRATEGIES)}")
    if cfg.k < 1 or cfg.rounds < 1:
        raise UserError("--k and --rounds must be at least 1")
    if not cfg.base.startswith("hf:"):
        raise UserError(f"--model {cfg.base}: give hf:embedded or hf:PATH (training needs a transformers model)")
    resolve(cfg.base[3:])
    if not cfg.eval_tasks:
        raise UserError("--eval: give the held-out task files or folders to evaluate each round's model on")
    pool = load_tasks(cfg.tasks, cfg.task_field)
    evals = load_eval_tasks(list(cfg.eval_tasks), instances=cfg.eval_instances)
    both = sorted({t.id for t in pool} & {t.id for t in evals})
    if both:
        raise UserError(f"eval task(s) {', '.join(both[:5])} are also training tasks; eval tasks must be "
                        "held out (remove them from TASKS or from --eval)")
    return pool, evals


def run_active_loop(cfg: LoopConfig, argv: list[str] | None = None) -> dict[str, Any]:
    """Run (or resume) rounds 1..``cfg.rounds``; returns ``{"rounds": [round records], "curve": ...}``."""
    from instructkit.runs import RunDir

    pool, evals = _validate(cfg)
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory; choose another path")
    sdir = out / cfg.strategy
    sdir.mkdir(parents=True, exist_ok=True)
    check_settings(sdir, cfg.settings())
    records: list[dict[str, Any]] = []
    with RunDir(sdir, command="active-loop", config={**cfg.settings(), "rounds": cfg.rounds}, argv=argv) as run:
        try:
            _rounds(cfg, out, pool, evals, records, run, argv)
        except IncompleteStepError as e:
            run.finish(status=e.status, rounds=[_brief(x) for x in records], error=str(e))
            raise
        curve = write_curve(out)
        run.finish(rounds=[_brief(x) for x in records],
                   counts={"rounds": len(records), "pool_tasks": len(pool), "eval_tasks": len(evals)})
    return {"rounds": records, "curve": curve, "out": str(out)}


def _rounds(cfg: LoopConfig, out: Path, pool: list, evals: list, records: list[dict[str, Any]], run: Any,
            argv: list[str] | None) -> None:
    from instructkit import ui

    for r in range(1, cfg.rounds + 1):
        rp = RoundPaths.of(out, cfg.strategy, r)
        done = read_record(rp)
        if done is not None:
            ui.info(f"round {r}: finished earlier ({len(done['train_tasks'])} training tasks, "
                    f"ROUGE-L {_f(done['eval'].get('rougeL'))}); skipped")
            records.append(done)
            continue
        earlier = [RoundPaths.of(out, cfg.strategy, j) for j in range(1, r)]
        taken = {tid for e in earlier for tid in selected_ids(e.selected)}
        left = [t for t in pool if t.id not in taken]
        if not left:
            ui.info(f"round {r}: every task is selected already; stopping after round {r - 1}")
            break
        records.append(_run_round(cfg, rp, earlier, evals, argv))
        write_curve(out)
        run.update(rounds=[_brief(x) for x in records])


def _require_complete(status: str, step: str) -> None:
    """A round goes on only from a complete step: a partial selection must not be trained on."""
    if status != "complete":
        raise IncompleteStepError(f"{step} ended {status} (model errors); re-run the same command to "
                                  "retry it", status)


def _brief(rec: dict[str, Any]) -> dict[str, Any]:
    return {"round": rec["round"], "selected": rec["selected"], "train_tasks": len(rec["train_tasks"]),
            "rougeL": rec["eval"].get("rougeL")}


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _run_round(cfg: LoopConfig, rp: RoundPaths, earlier: list[RoundPaths], evals: list,
               argv: list[str] | None) -> dict[str, Any]:
    from instructkit import ui
    from instructkit.loop.evaluate import evaluate
    from instructkit.runs import atomic_write_json, atomic_write_jsonl, read_jsonl
    from instructkit.select.active.uncertainty import ScoreConfig, select_active
    from instructkit.loop.train import train

    r = rp.number
    state = round_state(rp)
    scorer = cfg.base if r == 1 else f"hf:{earlier[-1].model.resolve()}"
    ran: list[str] = []
    seconds: dict[str, float] = {}
    resumed = [k for k, v in state.items() if v]
    ui.info(f"[bold]round {r}[/bold] ({cfg.strategy})" + (f": resuming, done already: {', '.join(resumed)}"
                                                          if resumed else ""))
    scored_now = 0
    if not state["selected"]:
        t0 = time.perf_counter()
        s = select_active(cfg.tasks, rp.select, cfg.k, model=scorer,
                          cfg=ScoreConfig(instances=cfg.instances, perturbations=cfg.perturbations,
                                          drop=cfg.drop, seed=cfg.seed, max_tokens=cfg.max_tokens),
                          strategy=cfg.strategy, cls_ratio=cfg.cls_ratio,
                          exclude=[e.selected for e in earlier], task_field=cfg.task_field,
                          concurrency=1, argv=argv)
        seconds["select"] = round(time.perf_counter() - t0, 2)
        _require_complete(s["status"], f"round {r} select ({rp.select})")
        scored_now = s["scored_now"]
        ran.append("select")
        for note in s["notes"]:
            ui.info(f"[yellow]note:[/yellow] {note}")
    picked = selected_ids(rp.selected)
    ui.info(f"round {r}: selected {', '.join(picked)} (scored with {scorer})")

    # the training set: every task selected so far, in round order (so a re-run writes the same file)
    sources = [e.selected_examples for e in earlier] + [rp.selected_examples]
    train_tasks = [tid for e in earlier for tid in selected_ids(e.selected)] + picked
    if not state["trained"]:
        n_examples = atomic_write_jsonl(rp.train_data, (row for p in sources for row in read_jsonl(p)))
        t0 = time.perf_counter()
        res = train(cfg.train_config(str(rp.train_data), str(rp.model), cfg.base), argv=argv)
        seconds["train"] = round(time.perf_counter() - t0, 2)
        ran.append("train")
        loss = f"loss {res.first_loss:.3f} -> {res.final_loss:.3f}" if res.losses else "no loss logged"
        ui.info(f"round {r}: trained on {len(train_tasks)} tasks ({n_examples} examples), {res.steps} steps, "
                f"{loss}" + (f", resumed from step {res.resumed_from}" if res.resumed_from else ""))
    training = _training_log(rp.model)

    t0 = time.perf_counter()
    if not state["evaluated"]:
        results = evaluate(f"hf:{rp.model.resolve()}", evals, rp.eval, demos=cfg.demos,
                           max_tokens=cfg.eval_max_tokens, concurrency=1, argv=argv)
        seconds["eval"] = round(time.perf_counter() - t0, 2)
        _require_complete(results["status"], f"round {r} eval ({rp.eval})")
        ran.append("eval")
    else:
        import json

        results = json.loads((rp.eval / "results.json").read_text(encoding="utf-8"))
    ui.info(f"round {r}: overall ROUGE-L {_f(results['overall']['rougeL'])} on {len(evals)} eval tasks")

    record = {"round": r, "strategy": cfg.strategy, "scored_with": scorer, "selected": picked,
              "train_tasks": train_tasks, "train_examples": training.get("examples"),
              "training": {k: training.get(k) for k in ("steps", "losses", "seconds", "resumed_from", "method")},
              "eval": results["overall"],
              "eval_tasks": {tid: v["rougeL"] for tid, v in results["tasks"].items()},
              "model": f"hf:{rp.model.resolve()}", "scored_now": scored_now,
              "steps_run_last": ran, "resumed": resumed, "seconds": seconds}
    atomic_write_json(rp.record, record)
    return record


def _training_log(model_dir: Path) -> dict[str, Any]:
    import json

    p = model_dir / "training.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}
