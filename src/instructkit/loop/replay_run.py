"""``replay-run``: continual instruction tuning through stages, with a replay set per stage.

Stage t trains *from stage t-1's model* on stage t's tasks plus the replay set that
:mod:`instructkit.select.replay` chooses from the tasks of stages 1..t-1 (``--strategy none``: no
replay, the forgetting baseline). After each stage the model is evaluated on the held-out eval
tasks of the current and every earlier stage, which gives Dynosaur's continual-learning table:
rows = stages trained so far, columns = eval sets.

**Continuing from a LoRA adapter - merge and retrain.** Stage t's base is ``hf:DIR/stage_<t-1>/model``;
``instructkit train`` loads it with the adapter merged into the weights and trains a *fresh* LoRA
adapter on top. Each stage's model folder is therefore a small adapter whose base is the previous
stage's folder (an absolute path, so move DIR as a whole or not at all); loading stage t merges the
chain. Merging keeps each stage a plain LoRA of fixed rank, where continuing one adapter would cap
every stage's learning in the same low-rank subspace. With ``--full`` each stage is a full model.

Layout::

    DIR/plan/stage_<t>/train.jsonl      stage t's examples + the replayed ones (select.replay)
    DIR/stage_<t>/model/                the model after stage t
    DIR/stage_<t>/eval_<s>/             results.json, predictions.jsonl (s = 1..t)
    DIR/stage_<t>/stage.json            the stage's record, written last = "finished"
    DIR/results.json, DIR/table.md      the stage × eval-set table

>>> cfg = ReplayRunConfig(stages=["s1", "s2"], eval_sets=["e1", "e2"], out="runs/cl", budget=2)  # doctest: +SKIP
>>> run_replay_stages(cfg)["table"]                                                              # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instructkit.errors import UserError
from instructkit.loop.settings import TrainEvalSettings

STRATEGIES = ("instruction-diverse", "data-diverse", "similar", "random", "none")


@dataclass
class ReplayRunConfig(TrainEvalSettings):
    """Everything a ``replay-run`` depends on; training and evaluation knobs: TrainEvalSettings."""

    stages: list[str]
    eval_sets: list[str]
    out: str
    budget: int
    strategy: str = "instruction-diverse"
    base: str = "hf:embedded"
    objective: str = "facility-location"
    embedder: str = "minilm"
    max_per_task: int = 0

    NOT_SETTINGS = ("out", "save_every")


def format_table(stages: list[dict[str, Any]], n_sets: int) -> str:
    """Markdown table: one row per finished stage, one column per eval set (+ the mean over seen sets).

    >>> print(format_table([{"stage": 1, "rougeL": {"1": 10.0}}], 2))
    | after stage | eval 1 | eval 2 | mean (seen) |
    |---|---|---|---|
    | 1 | 10.00 |  | 10.00 |
    """
    head = "| after stage | " + " | ".join(f"eval {s}" for s in range(1, n_sets + 1)) + " | mean (seen) |"
    lines = [head, "|" + "---|" * (n_sets + 2)]
    for st in stages:
        cells, seen = [], []
        for s in range(1, n_sets + 1):
            v = st["rougeL"].get(str(s))
            cells.append("" if v is None else f"{v:.2f}")
            if v is not None:
                seen.append(v)
        mean = f"{sum(seen) / len(seen):.2f}" if seen else ""
        lines.append(f"| {st['stage']} | " + " | ".join(cells) + f" | {mean} |")
    return "\n".join(lines)


def _plan(cfg: ReplayRunConfig, plan_dir: Path, argv: list[str] | None) -> None:
    """Write ``plan/stage_<t>/train.jsonl`` for every stage (skipped when a finished plan is there)."""
    from instructkit.runs import atomic_write_jsonl
    from instructkit.select.replay import StagePlan, run_replay
    from instructkit.select.active.tasks_io import load_tasks

    if cfg.strategy != "none":
        m = plan_dir / "manifest.json"
        if m.is_file() and json.loads(m.read_text(encoding="utf-8")).get("status") == "complete":
            return
        run_replay(cfg.stages, str(plan_dir), cfg.budget, cfg.strategy, cfg.objective, cfg.embedder,
                   cfg.seed, cfg.task_field, cfg.max_per_task, argv=argv)
        return
    # no replay: each stage trains on its own tasks only (deterministic, so simply rewritten)
    for t, path in enumerate(cfg.stages, 1):
        plan = StagePlan(stage=t, tasks=load_tasks([path], cfg.task_field))
        d = plan_dir / f"stage_{t}"
        atomic_write_jsonl(d / "train.jsonl", (e.to_dict() for e in plan.train_examples()))
        atomic_write_jsonl(d / "replay_tasks.jsonl", [])


def _validate(cfg: ReplayRunConfig) -> list[list]:
    from instructkit.embed import check_embedder
    from instructkit.loop.evaluate import load_tasks as load_eval_tasks
    from instructkit.llm.hf_load import resolve
    from instructkit.select.active.tasks_io import load_tasks

    if cfg.strategy not in STRATEGIES:
        raise UserError(f"--strategy {cfg.strategy}: use one of {', '.join(STRATEGIES)}")
    if len(cfg.stages) < 2:
        raise UserError("give at least two stages (STAGE1 STAGE2 ...)")
    if len(cfg.eval_sets) != len(cfg.stages):
        raise UserError(f"--eval-per-stage: give one eval set per stage ({len(cfg.stages)} stages, "
                        f"{len(cfg.eval_sets)} eval sets)")
    if not cfg.base.startswith("hf:"):
        raise UserError(f"--model {cfg.base}: give hf:embedded or hf:PATH (training needs a transformers model)")
    resolve(cfg.base[3:])
    check_embedder(cfg.embedder)
    seen: dict[str, int] = {}  # the replay plan checks this too, but only once the run directory exists
    for i, p in enumerate(cfg.stages, 1):
        for t in load_tasks([p], cfg.task_field):
            if seen.setdefault(t.id, i) != i:
                raise UserError(f"task '{t.id}' is in stage {seen[t.id]} and stage {i}; a task belongs to one stage")
    train_ids = set(seen)
    evals = [load_eval_tasks([p], instances=cfg.eval_instances) for p in cfg.eval_sets]
    both = sorted(train_ids & {t.id for e in evals for t in e})
    if both:
        raise UserError(f"eval task(s) {', '.join(both[:5])} are also training tasks; eval sets must be held out")
    return evals


def run_replay_stages(cfg: ReplayRunConfig, argv: list[str] | None = None) -> dict[str, Any]:
    """Train stage after stage, evaluating each model on every eval set seen so far (resumable per stage)."""
    from instructkit import ui
    from instructkit.loop.evaluate import evaluate
    from instructkit.loop.rounds import check_settings
    from instructkit.runs import RunDir, atomic_write_json, atomic_write_text, read_jsonl
    from instructkit.loop.train import train

    evals = _validate(cfg)
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory; choose another path")
    out.mkdir(parents=True, exist_ok=True)
    check_settings(out, cfg.settings())
    n = len(cfg.stages)
    done: list[dict[str, Any]] = []
    with RunDir(out, command="replay-run", config=cfg.settings(), argv=argv) as run:
        _plan(cfg, out / "plan", argv)
        for t in range(1, n + 1):
            sdir = out / f"stage_{t}"
            rec_path = sdir / "stage.json"
            if rec_path.is_file():
                done.append(json.loads(rec_path.read_text(encoding="utf-8")))
                ui.info(f"stage {t}: finished earlier; skipped")
                continue
            data = out / "plan" / f"stage_{t}" / "train.jsonl"
            replayed = [r["task_id"] for r in read_jsonl(data.with_name("replay_tasks.jsonl"))]
            base = cfg.base if t == 1 else f"hf:{(out / f'stage_{t - 1}' / 'model').resolve()}"
            res = train(cfg.train_config(str(data), str(sdir / "model"), base), argv=argv)
            ui.info(f"stage {t}: trained on {res.examples} examples ({len(replayed)} replayed tasks) from "
                    f"{'the base' if t == 1 else f'stage {t - 1}'}")
            model = f"hf:{(sdir / 'model').resolve()}"
            rouge: dict[str, float | None] = {}
            for s in range(1, t + 1):
                r = evaluate(model, evals[s - 1], sdir / f"eval_{s}", demos=cfg.demos,
                             max_tokens=cfg.eval_max_tokens, concurrency=1, argv=argv)
                if r["status"] != "complete":
                    from instructkit.errors import IncompleteStepError

                    run.finish(status=r["status"], counts={"stages": len(done)})
                    raise IncompleteStepError(f"stage {t} eval {s} ({sdir / f'eval_{s}'}) ended {r['status']} "
                                              "(model errors); re-run the same command to retry it", r["status"])
                rouge[str(s)] = r["overall"]["rougeL"]
            rec = {"stage": t, "model": model, "base": base, "train_examples": res.examples,
                   "replayed_tasks": replayed, "steps": res.steps, "first_loss": res.first_loss,
                   "final_loss": res.final_loss, "rougeL": rouge}
            atomic_write_json(rec_path, rec)
            done.append(rec)
            ui.info(f"stage {t}: ROUGE-L " + ", ".join(f"eval {s} {v if v is None else round(v, 2)}"
                                                        for s, v in rouge.items()))
        table = format_table(done, n)
        results = {"strategy": cfg.strategy, "budget": cfg.budget, "stages": done,
                   "eval_sets": list(cfg.eval_sets), "stage_sources": list(cfg.stages),
                   "table": [[st["rougeL"].get(str(s)) for s in range(1, n + 1)] for st in done]}
        atomic_write_json(out / "results.json", results)
        atomic_write_text(out / "table.md", f"# replay-run ({cfg.strategy}, budget {cfg.budget})\n\n"
                          "ROUGE-L on each stage's held-out eval tasks after training each stage.\n\n"
                          + table + "\n")
        run.finish(outputs={"results": "results.json", "table": "table.md"}, counts={"stages": len(done)},
                   table=results["table"])
    return {**results, "markdown": table}
