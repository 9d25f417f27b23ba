"""``instructkit select active``, ``instructkit taskmap`` and ``instructkit replay``.

Only typer is imported here at start-up; the work lives in ``instructkit.select.{active,taskmap,replay}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import aliased
from instructkit.cli.common import (ConcurrencyOpt, MaxRetriesOpt, ModelOpt, OutOpt, QuietOpt,
                                    SkipBadRowsOpt, TimeoutOpt, check_model, model_options, setup)
from instructkit.cli.run import DryRunOpt, MaxCostOpt, MaxTokensOpt, budgeted

TaskFieldOpt = Annotated[str, typer.Option("--task-field", help="Task id column of example files "
                                           "(looked up in the row, then in its meta).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of every random draw (instances, perturbations, random picks).")]


def register_select(select_app: typer.Typer) -> None:
    @select_app.command("active")
    @budgeted
    def select_active_cmd(
        tasks: Annotated[list[Path], typer.Argument(help="Task sources: Dynosaur run dirs (tasks.jsonl + "
                                                    "instances.jsonl), SuperNI task .json files or folders, "
                                                    "or example files with a task id column.")],
        k: Annotated[int, typer.Option("--k", min=1, help="How many tasks to select.")],
        out: OutOpt,
        model: ModelOpt = "local",
        instances: Annotated[int, typer.Option("--instances", min=1, help="Instances sampled per task (n).")] = 10,
        perturbations: Annotated[int, typer.Option("--perturbations", min=1,
                                                   help="Perturbed instructions per task (K).")] = 10,
        drop: Annotated[float, typer.Option("--drop", min=0.0, max=1.0,
                                            help="Probability of dropping each instruction word.")] = 0.2,
        strategy: Annotated[str, typer.Option("--strategy", help="uncertainty (top PU) | random | "
                                              "high-perplexity | low-perplexity")] = "uncertainty",
        cls_ratio: Annotated[Optional[float], typer.Option("--cls-ratio", min=0.0, max=1.0,
                                                           help="Fraction of the K picks that are "
                                                           "classification tasks (the rest generation).")] = None,
        max_tokens: Annotated[int, typer.Option("--max-tokens", min=1,
                                                help="Longest greedy answer y_i in tokens.")] = 64,
        scores: Annotated[Optional[Path], typer.Option("--scores", help="Select from this scores.jsonl "
                                                       "(or run dir) without loading a model.")] = None,
        exclude: Annotated[Optional[list[Path]], typer.Option("--exclude", help="Task ids to leave out: a "
                                                              "selected.jsonl of an earlier round or a text "
                                                              "file of ids (repeatable).")] = None,
        task_field: TaskFieldOpt = "task_id",
        seed: SeedOpt = 0,
        concurrency: ConcurrencyOpt = 4,
        timeout: TimeoutOpt = None,
        max_retries: MaxRetriesOpt = None,
        skip_bad_rows: SkipBadRowsOpt = False,
        dry_run: DryRunOpt = False,
        max_cost: MaxCostOpt = None,
        max_tokens_total: MaxTokensOpt = None,
        quiet: QuietOpt = False,
    ) -> None:
        """Score tasks by prompt uncertainty with the current model and select the next K (Active-IT).

        Writes OUT/scores.jsonl (PU, PP, perplexity per task; resumable), OUT/selected.jsonl, OUT/selected_examples.jsonl (ready to train) and OUT/manifest.json.

        Re-running on the same OUT with another --strategy re-uses the scores; --strategy random needs no scores at all. PU = mean |p(y|I0,x) - p(y|Ik,x)| over n instances and K word-dropped instructions; PP = mean p(y|I0,x).

        Example: instructkit select active examples/active --k 4 --out runs/round1 --instances 3 --perturbations 3

        With a budget: add --max-tokens-total 100000 or --max-cost 1.00 (exit 3 when it stops there; re-run
        with a higher budget to continue: scored tasks are kept)
        """
        import sys

        from instructkit.select.active.uncertainty import ScoreConfig, select_active
        from instructkit.ui import info, warn

        quiet = setup(quiet)
        options = model_options(timeout, max_retries, concurrency)
        if scores is None:
            check_model(model)
        cfg = ScoreConfig(instances=instances, perturbations=perturbations, drop=drop, seed=seed,
                          max_tokens=max_tokens)
        if dry_run:
            from instructkit.cli.run import print_command_plan
            from instructkit.pipeline.schema import SelectActive

            opts = SelectActive(k=k, model=model, instances=instances, perturbations=perturbations, drop=drop,
                                strategy=strategy, cls_ratio=cls_ratio, max_tokens=max_tokens,
                                task_field=task_field, seed=seed)
            return print_command_plan("select active", opts, out, [str(t) for t in tasks], model)
        s = select_active(tasks, out, k, model=model, cfg=cfg, strategy=strategy, cls_ratio=cls_ratio,
                          scores=scores, exclude=exclude or [], task_field=task_field,
                          concurrency=concurrency, argv=sys.argv[1:], options=options,
                          skip_bad_rows=skip_bad_rows)
        info(f"{s['tasks']} tasks ({s['scored_now']} scored now, {s['unscorable']} unscorable); selected "
             f"{s['selected']} ({s['selected_classification']} classification, {s['selected_generation']} "
             f"generation) by {strategy}, {s['selected_examples']} examples -> {out}/selected_examples.jsonl")
        for note in s["notes"]:
            info(f"[yellow]note:[/yellow] {note}")
        if s.get("bad_rows"):
            warn(f"left out {s['bad_rows']} bad input rows; each with its reason in {out}/rejected.jsonl")
        from instructkit.cli.outcome import exit_for_status, failure_words

        exit_for_status(s["status"], failure_words(s["failed"], s["failed"] + s["scored_now"], "task(s)",
                                                   s["failed_kinds"]) + f", {s['selected']} selected")


def register(app: typer.Typer) -> None:
    @app.command("taskmap")
    def taskmap_cmd(
        scores: Annotated[Path, typer.Argument(help="scores.jsonl of 'select active' (or its run dir).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write; .csv and .json go beside it.")],
        pu_threshold: Annotated[Optional[float], typer.Option(
            "--pu-threshold", help="PU above this is 'ambiguous' (default: median PU).")] = None,
        pp_threshold: Annotated[Optional[float], typer.Option(
            "--pp-threshold", help="Below it, PP at or above is 'easy', under is 'difficult' "
                                   "(default: median PP).")] = None,
        quiet: QuietOpt = False,
    ) -> None:
        """Draw the Task Map (x = prompt uncertainty, y = prediction probability) and list tasks per region.

        Regions: ambiguous (PU > PU threshold), easy (otherwise, PP >= PP threshold), difficult (the rest).

        Example: instructkit taskmap runs/round1/scores.jsonl --out runs/round1/map.png
        """
        from instructkit.select.active.taskmap import REGIONS, write_taskmap

        quiet = setup(quiet)
        s = write_taskmap(scores, out, pu_threshold, pp_threshold)
        if not quiet:
            th = s["thresholds"]
            typer.echo(f"PU threshold {th['pu']:.6f} ({th['pu_rule']}), PP threshold {th['pp']:.6f} ({th['pp_rule']})")
            for reg in REGIONS:
                ids = s["regions"][reg]
                typer.echo(f"{reg:<10} {len(ids):>4}  {', '.join(ids[:12])}{' ...' if len(ids) > 12 else ''}")
            typer.echo(f"wrote {s['png']}, {s['csv']} and {Path(s['png']).with_suffix('.json')}")

    @app.command("replay", cls=aliased({"--budget": "--k"}))
    def replay_cmd(
        stages: Annotated[list[Path], typer.Argument(help="One task source per stage, in training order.")],
        budget: Annotated[int, typer.Option("--k", min=1, help="Earlier tasks replayed per stage (the replay budget).")],
        out: OutOpt,
        strategy: Annotated[str, typer.Option("--strategy", help="instruction-diverse | data-diverse | "
                                              "similar | random")] = "instruction-diverse",
        objective: Annotated[str, typer.Option("--objective", help="Diversity algorithm: facility-location "
                                               "| k-center.")] = "facility-location",
        embedder: Annotated[str, typer.Option("--embedder", help="minilm | st:MODEL")] = "minilm",
        max_per_task: Annotated[int, typer.Option("--max-per-task", min=0, help="Examples replayed per "
                                                  "task (0 = all).")] = 0,
        task_field: TaskFieldOpt = "task_id",
        seed: SeedOpt = 0,
        skip_bad_rows: SkipBadRowsOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Choose which earlier tasks to replay at each continual-learning stage and write train files.

        Writes OUT/stage_<t>/train.jsonl (stage t's examples + replayed ones) and OUT/stage_<t>/replay_tasks.jsonl; the manifest holds each replay set's diversity objectives.

        Example: instructkit replay stage1/ stage2/ stage3/ --k 5 --out runs/replay
        """
        import sys

        from instructkit.select.replay import run_replay
        from instructkit.ui import info, warn

        quiet = setup(quiet)
        s = run_replay([str(p) for p in stages], str(out), budget, strategy, objective, embedder, seed,
                       task_field, max_per_task, argv=sys.argv[1:], skip_bad_rows=skip_bad_rows)
        for st in s["stages"]:
            if st["stage"] == 1:
                info(f"stage 1: {st['stage_tasks']} tasks, {st['train_examples']} examples (no replay)")
            else:
                info(f"stage {st['stage']}: {st['stage_tasks']} tasks + {st['replayed_tasks']} replayed of "
                     f"{st['pool_tasks']} ({strategy}), {st['train_examples']} examples; instruction "
                     f"facility location {st['instruction_facility_location']:.4f}, k-center radius "
                     f"{st['instruction_k_center_radius']:.4f}")
            if st.get("note"):
                warn(st["note"])
        if s.get("bad_rows"):
            warn(f"left out {s['bad_rows']} bad input rows; each with its reason in {out}/rejected.jsonl")
        info(f"wrote {out}/stage_*/train.jsonl")
