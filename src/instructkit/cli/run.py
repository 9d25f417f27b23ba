"""``instructkit run RECIPE.yaml --out DIR``: a whole curation from one recipe file."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from instructkit.cli.common import QuietOpt, setup

DryRunOpt = Annotated[bool, typer.Option(
    "--dry-run", help="Print the planned model calls, tokens and cost per stage; call no model, write nothing.")]
MaxCostOpt = Annotated[Optional[float], typer.Option(
    "--max-cost", metavar="USD", min=0.0, help="Stop cleanly before a call could take the job's spend past "
                                               "USD (priced models; see the price table).")]
TargetOpt = Annotated[Optional[int], typer.Option(
    "--target", metavar="N", min=1, help="Keep generating until N records passed every filter (the first N go "
                                         "to DIR/target.jsonl); see --max-calls.")]
MaxCallsOpt = Annotated[Optional[int], typer.Option(
    "--max-calls", metavar="N", min=1, help="Hard cap on the model calls of this run directory (all runs).")]
MaxTokensOpt = Annotated[Optional[int], typer.Option(
    "--max-tokens-total", metavar="N", min=1, help="Stop cleanly before a call could take the job's "
                                                    "prompt+completion tokens past N.")]


def budgeted(command: Callable[..., Any]) -> Callable[..., Any]:
    """Make a command's ``--max-cost`` / ``--max-tokens-total`` hold (the recipe's budget, for one run
    directory; see :mod:`instructkit.pipeline.budget`). Typer reads the signature through
    ``functools.wraps``, so the command declares the options as usual; with ``--dry-run`` (no call) or
    no limit the command runs untouched."""

    @functools.wraps(command)
    def run_within_budget(*args: Any, **kwargs: Any) -> Any:
        max_cost, max_tokens_total = kwargs.get("max_cost"), kwargs.get("max_tokens_total")
        if (max_cost is None and max_tokens_total is None) or kwargs.get("dry_run") or kwargs.get("out") is None:
            return command(*args, **kwargs)
        if kwargs.get("executor") == "ray":
            from instructkit.errors import UserError

            # the meter lives in this process: calls made by Ray workers would pass it unseen
            raise UserError("--max-cost / --max-tokens-total need --executor local (calls on Ray workers are "
                            "not metered); on Ray use --max-calls, or run without a budget")
        from instructkit.pipeline.budget import command_budget

        with command_budget(kwargs["out"], max_cost, max_tokens_total):
            return command(*args, **kwargs)

    return run_within_budget


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        recipe: Annotated[Path, typer.Argument(
            help="Recipe YAML: sources, model, stages (see docs/guide/recipes.md).")],
        out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory: recipe.yaml, manifest.json, "
                                                    "NN-<stage>/ per stage; re-running resumes it.")] = None,
        dry_run: DryRunOpt = False,
        max_cost: MaxCostOpt = None,
        max_tokens_total: MaxTokensOpt = None,
        quiet: QuietOpt = False,
    ) -> None:
        """Run a recipe: every stage in order, each into DIR/NN-<stage>/ (an ordinary run directory of
        that command), the output of one the input of the next.

        Re-running continues where it stopped; after editing a stage's options only that stage and the
        ones after it run again (the old folders are moved aside, never deleted).

        Example: instructkit run examples/recipes/dynosaur-to-messages.yaml --out runs/recipe

        What would it cost? instructkit run examples/recipes/glan-to-sharegpt.yaml --out runs/glan-recipe --dry-run

        With a budget: instructkit run my-recipe.yaml --out runs/r --max-cost 2.50 (exit code 3 when it stops there;
        re-run with a higher budget to continue: the budget covers the whole job, all runs together)
        """
        from instructkit.errors import UserError
        from instructkit.pipeline import Pipeline

        quiet = setup(quiet)
        pipe = Pipeline.from_yaml(recipe)
        if out is None:
            raise UserError("--out DIR is required (the recipe's run directory; re-running resumes it)")
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out}: exists and is not a directory; choose another path")
        if dry_run:
            from instructkit.pipeline.plan import format_plan, plan_pipeline

            typer.echo(format_plan(plan_pipeline(pipe, out)))
            return
        import sys

        manifest = pipe.run(out, max_cost=max_cost, max_tokens_total=max_tokens_total, argv=sys.argv[1:])
        if not quiet:
            typer.echo(format_summary(manifest, out))
        from instructkit.cli.outcome import exit_for_status

        # the one status contract (cli/outcome.py): partial 3, failed 1, stopped at the budget 3
        stage = next((s for s in manifest.get("stages") or [] if s.get("status") != "complete"), None)
        detail = (f"stage {stage['dir']} ended {stage['status']} (see {out / stage['dir'] / 'manifest.json'})"
                  if stage else "")
        if manifest["status"] == "stopped" and manifest.get("stopped") == "budget":
            detail += "; the recipe's budget ran out: re-run with a higher --max-cost / --max-tokens-total"
        exit_for_status(manifest["status"], detail)


def format_summary(manifest: dict, out: Path) -> str:
    lines = []
    for s in manifest.get("stages") or []:
        u = s.get("usage") or {}
        lines.append(f"  {s['dir']:<22} {s['status']:<9} {u.get('calls', 0)} calls, {u.get('cache_hits', 0)} "
                     f"cache hits, {u.get('total_tokens', 0):,} tokens")
    u = manifest.get("usage") or {}
    head = f"recipe {manifest['status']}" + (f" ({manifest['stopped']})" if manifest.get("stopped") else "")
    tail = (f"output: {out / manifest['outputs']['examples']}" if manifest.get("outputs")
            else "re-run the same command to continue")
    cost = u.get("estimated_cost_usd")
    return "\n".join([head, *lines, f"  total: {u.get('calls', 0)} calls, {u.get('total_tokens', 0):,} tokens"
                      + (f", ${cost:.4f}" if cost is not None else ""), tail])


def print_command_plan(name: str, opts, out: Path, inputs: list[str], model: str) -> None:
    """``--dry-run`` of a single command: its plan, no model call, nothing written."""
    from instructkit.pipeline.plan import format_plan, plan_command

    typer.echo(format_plan(plan_command(name, opts, out, inputs, model)))
