"""``instructkit eval``: Super-NI-style evaluation of any model on held-out tasks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import aliased
from instructkit.cli.common import (ConcurrencyOpt, MaxRetriesOpt, OutOpt, QuietOpt, TimeoutOpt,
                                    check_model, model_options, setup)
from instructkit.cli.run import DryRunOpt, MaxCostOpt, MaxTokensOpt, budgeted


def register(app: typer.Typer) -> None:
    @app.command("eval", cls=aliased({"--instances": "--eval-instances", "--model": None, "-m": None}))
    @budgeted
    def eval_cmd(
        model: Annotated[str, typer.Argument(help="Model spec (or --model SPEC): local | hf:embedded | hf:MODEL_DIR | "
                                             "openai:MODEL[@URL] | local:/path.gguf")],
        tasks: Annotated[list[Path], typer.Option("--tasks", "-t", help="Super-NI task .json files, our "
                                                  "tasks.jsonl (instances.jsonl beside it), or folders of "
                                                  "either; list several after one --tasks.")],
        out: OutOpt,
        more_tasks: Annotated[Optional[list[Path]], typer.Argument(
            hidden=True, help="Further task files after --tasks (so --tasks a.json b.json works).")] = None,
        instances: Annotated[Optional[int], typer.Option("--eval-instances", min=1, help="First N instances per task "
                                                         "[default: all].")] = None,
        demos: Annotated[int, typer.Option(min=0, max=2, help="Demonstrations shown before the input "
                                           "(Super-NI uses 2).")] = 2,
        max_tokens: Annotated[int, typer.Option(min=1, help="Longest answer, in tokens.")] = 64,
        concurrency: ConcurrencyOpt = 4,
        timeout: TimeoutOpt = None,
        max_retries: MaxRetriesOpt = None,
        dry_run: DryRunOpt = False,
        max_cost: MaxCostOpt = None,
        max_tokens_total: MaxTokensOpt = None,
        quiet: QuietOpt = False,
    ) -> None:
        """Evaluate MODEL on held-out tasks: ROUGE-L for all, exact match for classification tasks.

        Example: instructkit eval hf:my-model --tasks held-out/*.json --out eval-my-model --eval-instances 20

        Cost first (no call): add --dry-run. With a budget: add --max-tokens-total 50000 or --max-cost 1.00
        (exit 3 when it stops there; re-run with a higher budget to continue)

        Writes DIR/results.json (per-task and overall) and DIR/predictions.jsonl; re-running resumes.
        """
        import time

        from instructkit import ui
        from instructkit.loop.evaluate import evaluate, format_table, load_tasks

        quiet = setup(quiet)
        options = model_options(timeout, max_retries, concurrency)
        check_model(model)
        if dry_run:
            from instructkit.cli.run import print_command_plan
            from instructkit.pipeline.schema import Eval

            opts = Eval(tasks=[str(p) for p in list(tasks) + list(more_tasks or [])], model=model,
                        instances=instances, demos=demos, max_tokens=max_tokens)
            return print_command_plan("eval", opts, out, [], model)
        task_list = load_tasks(list(tasks) + list(more_tasks or []), instances=instances)
        t0 = time.perf_counter()
        results = evaluate(model, task_list, out, demos=demos, max_tokens=max_tokens,
                           concurrency=concurrency, argv=sys.argv[1:], options=options)
        if not quiet:
            typer.echo(format_table(results))
            ui.info(f"{results['overall']['instances']} answers from {model} in {time.perf_counter() - t0:.1f} s; "
                    f"results in {out / 'results.json'}")
        from instructkit.cli.outcome import exit_for_status, failure_words

        total = results["failed"] + results["overall"]["instances"]
        exit_for_status(results["status"], failure_words(results["failed"], total, "instance(s)",
                                                         results["failed_kinds"]))
