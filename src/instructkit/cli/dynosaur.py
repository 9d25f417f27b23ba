"""``instructkit dynosaur``: grow instruction data from existing annotated datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from instructkit.cli.common import (ConcurrencyOpt, ExecutorOpt, MaxRetriesOpt, ModelOpt, OutOpt,
                                    QuietOpt, RayAddressOpt, TimeoutOpt, check_model, model_options, open_executor,
                                    setup)
from instructkit.cli.run import DryRunOpt, MaxCallsOpt, TargetOpt, MaxCostOpt, MaxTokensOpt, budgeted


def _parse_modes(text: str) -> tuple[str, ...]:
    from instructkit.errors import UserError
    from instructkit.generate.dynosaur.prompt import MODES

    modes = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    bad = [m for m in modes if m not in MODES]
    if not modes or bad:
        raise UserError(f"--modes {text!r}: use a comma-separated subset of {','.join(MODES)}")
    return modes


def _parse_signals(text: str) -> tuple[str, ...]:
    from instructkit.generate.dynosaur.verify import parse_signals

    return parse_signals(text)


def format_summary(manifest: dict[str, Any]) -> str:
    """The printed summary of a dynosaur run directory (cumulative over all its runs)."""
    c = manifest.get("counts") or {}
    run = manifest.get("this_run") or {}
    rej = ", ".join(f"{k} {v}" for k, v in (c.get("tasks_rejected") or {}).items()) or "none"
    skipped = ", ".join(f"{k} {v}" for k, v in (c.get("instances_skipped") or {}).items()) or "none"
    cost = c.get("estimated_cost_usd")
    tpi = c.get("tokens_per_instance")
    lines = [
        f"datasets: {c.get('datasets_seen', 0)} seen, {c.get('datasets_used', 0)} used, "
        f"{c.get('datasets_skipped', 0)} skipped",
        f"tasks: {c.get('tasks_proposed', 0)} proposed, {c.get('tasks_kept', 0)} kept "
        f"({c.get('classification_tasks', 0)} classification, {c.get('generation_tasks', 0)} generation)",
        f"tasks rejected: {rej}",
        f"instances: {c.get('instances', 0)} made; rows skipped: {skipped}",
        _verification_line(manifest),
        f"model calls: {c.get('llm_calls', 0)} ({c.get('tokens', 0):,} tokens; "
        f"{tpi if tpi is not None else '-'} tokens per instance); this run: {usage_calls(run)} calls, "
        f"{(run.get('usage') or {}).get('cache_hits', 0)} cache hits",
        f"estimated cost: {'n/a (local model)' if cost is None else f'${cost:.4f}'}"
        + (f"; wall time {run['wall_s']} s" if run.get("wall_s") is not None else ""),
    ]
    for key, reason in (c.get("skipped_datasets") or {}).items():
        lines.append(f"skipped {key}: {reason}")
    for key, err in (run.get("failed_datasets") or {}).items():
        lines.append(f"FAILED {key}: {err}")
    return "\n".join(lines)


def _verification_line(manifest: dict[str, Any]) -> str:
    c = manifest.get("counts") or {}
    verify = (manifest.get("config") or {}).get("verify")
    checked, failed = c.get("tasks_verified", 0), c.get("tasks_failed_verification", 0)
    if not checked:
        return "verification: off" if verify is False else "verification: no task checked yet"
    model = (manifest.get("config") or {}).get("verify_model") or (manifest.get("config") or {}).get("model")
    return (f"verification: {checked} task(s) checked with {model}, {checked - failed} kept, "
            f"{failed} dropped (fails_verification)")


def usage_calls(run: dict[str, Any]) -> int:
    return int((run.get("usage") or {}).get("calls", 0))


def register(app: typer.Typer) -> None:
    @app.command("dynosaur")
    @budgeted
    def dynosaur(
        sources: Annotated[Optional[list[str]], typer.Argument(
            help="Datasets: HF hub names, HF-style folders, JSONL/CSV/Parquet files, a folder of dataset "
                 "folders (like examples/), or a .txt file listing sources. Leave out to report on --out.",
            show_default=False)] = None,
        out: OutOpt = Path("runs/dynosaur"),
        model: ModelOpt = "local",
        modes: Annotated[str, typer.Option(help="Task-design modes: aware (shows the description), "
                                                "unaware (example rows only), or both.")] = "aware,unaware",
        rows: Annotated[Optional[int], typer.Option(min=1, help="Rows loaded per dataset-config "
                                                             "(each becomes an instance per task); default all.")] = None,
        max_tasks: Annotated[int, typer.Option(min=1, max=10, help="Tasks asked for per call.")] = 3,
        verify: Annotated[bool, typer.Option(
            "--verify/--no-verify", help="Check every kept task on a few of its rows: does the instruction make "
                                         "the gold outputs likelier and the model's answers better than a null "
                                         "instruction? Tasks that fail are dropped (fails_verification).")] = True,
        verify_model: Annotated[Optional[str], typer.Option(
            "--verify-model", metavar="SPEC", help="Model that checks the tasks (default: --model).",
            show_default=False)] = None,
        verify_rows: Annotated[int, typer.Option(min=1, max=50, help="Rows per task the check uses.")] = 3,
        verify_signals: Annotated[str, typer.Option(
            help="Signals of the check, comma-separated: likelihood (gold output likelier than under a null "
                 "instruction), kind (verb fits the task kind), answer (the model's answers vs gold; "
                 "2 generations per row).")] = "likelihood,kind",
        verify_threshold: Annotated[float, typer.Option(
            min=0.0, max=1.0, help="Validity score (0-1) a task needs to be kept; 0 records scores and keeps "
                                   "every task.")] = 0.5,
        description: Annotated[Optional[str], typer.Option(
            help="Description to use for the source(s) (for files without a dataset card).")] = None,
        concurrency: ConcurrencyOpt = 4,
        timeout: TimeoutOpt = None,
        max_retries: MaxRetriesOpt = None,
        executor: ExecutorOpt = "local",
        ray_address: RayAddressOpt = None,
        target: TargetOpt = None,
        max_calls: MaxCallsOpt = None,
        max_cost: MaxCostOpt = None,
        max_tokens_total: MaxTokensOpt = None,
        dry_run: DryRunOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Turn annotated datasets into instruction data: an LLM designs tasks over each dataset's
        fields (one call per dataset and mode); every row becomes an instance of every valid task.

        Re-running on the same --out resumes and grows the collection: only datasets not yet in
        DIR/datasets.jsonl are processed. Writes tasks.jsonl, instances.jsonl, rejected.jsonl,
        datasets.jsonl and manifest.json.

        Example: instructkit dynosaur examples/ --out runs/dyno
        Scores only: instructkit dynosaur examples/ --out runs/dyno --verify-threshold 0
        Grow it: instructkit dynosaur my_new_data.jsonl --out runs/dyno
        Report:  instructkit dynosaur --out runs/dyno
        Cost first (no call): instructkit dynosaur examples/ --out runs/dyno --dry-run
        At most $0.50 (exit 3 there; re-run with more to continue): ... --max-cost 0.50
        Exactly 100 instances, at most 20 calls: instructkit dynosaur examples/ --out runs/dyno --target 100 --max-calls 20
        On Ray:  instructkit dynosaur examples/ --out runs/dyno --executor ray --ray-address auto
        """
        from instructkit.errors import UserError
        from instructkit.executor import check_executor
        from instructkit.generate.dynosaur.pipeline import DynosaurConfig
        from instructkit.generate.dynosaur.run import read_summary, run_dynosaur
        from instructkit.runs import check_out_dir

        quiet = setup(quiet)
        llm_options = model_options(timeout, max_retries, concurrency)
        check_executor(executor, ray_address)
        if not sources:
            if not (out / "manifest.json").is_file():
                raise UserError(f"--out {out}: no dynosaur run there; give SOURCE(s) to process")
            manifest = read_summary(out)
            if manifest.get("command") != "dynosaur":
                raise UserError(f"--out {out} holds a '{manifest.get('command')}' run, not dynosaur")
            typer.echo(format_summary(manifest))
            return
        from instructkit.generate.dynosaur.verify import VerifyConfig

        cfg = DynosaurConfig(modes=_parse_modes(modes), max_tasks=max_tasks, verify=verify, verify_model=verify_model,
                             verification=VerifyConfig(rows=verify_rows, threshold=verify_threshold,
                                                       signals=_parse_signals(verify_signals)))
        if dry_run:
            from instructkit.cli.run import print_command_plan
            from instructkit.pipeline.schema import Dynosaur

            opts = Dynosaur(modes=",".join(cfg.modes), rows=rows, max_tasks=max_tasks, description=description,
                            verify=verify, verify_rows=verify_rows, verify_signals=verify_signals)
            return print_command_plan("dynosaur", opts, out, list(sources), model)
        check_out_dir(out)
        check_model(model)
        if verify and verify_model:
            check_model(verify_model)
        cards = _load_all(sources, rows, description)
        ex = open_executor(executor, ray_address)
        try:
            def run_some(some: list) -> dict[str, Any]:
                return run_dynosaur(some, out, model=model, cfg=cfg, concurrency=concurrency,
                                    executor=ex, options=llm_options)

            if target or max_calls:
                from instructkit.pipeline.targets import dynosaur_to_target

                block = dynosaur_to_target(cards, out, target, max_calls, run_some, step=concurrency)
                manifest = read_summary(out)
                if not quiet:
                    typer.echo(f"target {target or '-'}: {block['accepted']} instances accepted, {block['rejected']} "
                               f"rejected, {block['calls']} calls" + (f" (stopped: {block['stopped']})"
                                                                      if block["stopped"] else ""))
            else:
                manifest = run_some(cards)
        finally:
            ex.close()
        if not quiet:
            typer.echo(format_summary(manifest))
            typer.echo(f"wrote {out}/ (tasks.jsonl, instances.jsonl, rejected.jsonl, datasets.jsonl, manifest.json)")
        _exit_for(manifest)


def _exit_for(manifest: dict[str, Any]) -> None:
    """complete -> 0; partial (some datasets failed on model errors) -> 3; failed -> 1."""
    from instructkit.cli.outcome import exit_for_status, failure_words

    run = manifest.get("this_run") or {}
    failed = run.get("failed_datasets") or {}
    tried = len(failed) + int(run.get("datasets", 0))
    if manifest.get("stopped") == "budget":
        exit_for_status("stopped", f"the budget refused {len(failed)} dataset(s); raise --max-calls "
                                   "(or --max-cost, --max-tokens-total) to continue")
    exit_for_status(manifest.get("status", "failed"), failure_words(len(failed), tried, "dataset(s)"))


def _load_all(sources: list[str], rows: int | None, description: str | None) -> list:
    """Load every card before writing anything, so a bad source fails fast with nothing written."""
    from instructkit import ui
    from instructkit.sources import expand_sources, load_source

    cards = []
    names = expand_sources(list(sources))
    with ui.progress("loading sources", total=len(names)) as bar:
        for s in names:
            cards.extend(load_source(s, rows=rows, description=description))
            bar.advance()
    return cards
