"""``instructkit dynosaur``: grow instruction data from existing annotated datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from instructkit.commands.common import (ConcurrencyOpt, DebugOpt, ExecutorOpt, MaxRetriesOpt, ModelOpt, OutOpt,
                                         QuietOpt, RayAddressOpt, TimeoutOpt, model_options, open_executor, setup)
from instructkit.commands.run import DryRunOpt, MaxCallsOpt, TargetOpt


def _parse_modes(text: str) -> tuple[str, ...]:
    from instructkit.errors import UserError
    from instructkit.generate.dynosaur_prompt import MODES

    modes = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    bad = [m for m in modes if m not in MODES]
    if not modes or bad:
        raise UserError(f"--modes {text!r}: use a comma-separated subset of {','.join(MODES)}")
    return modes


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


def usage_calls(run: dict[str, Any]) -> int:
    return int((run.get("usage") or {}).get("calls", 0))


def register(app: typer.Typer) -> None:
    @app.command("dynosaur")
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
        description: Annotated[Optional[str], typer.Option(
            help="Description to use for the source(s) (for files without a dataset card).")] = None,
        concurrency: ConcurrencyOpt = 4,
        timeout: TimeoutOpt = None,
        max_retries: MaxRetriesOpt = None,
        executor: ExecutorOpt = "local",
        ray_address: RayAddressOpt = None,
        target: TargetOpt = None,
        max_calls: MaxCallsOpt = None,
        dry_run: DryRunOpt = False,
        quiet: QuietOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Turn annotated datasets into instruction data: an LLM designs tasks over each dataset's
        fields (one call per dataset and mode); every row becomes an instance of every valid task.

        Re-running on the same --out resumes and grows the collection: only datasets not yet in
        DIR/datasets.jsonl are processed. Writes tasks.jsonl, instances.jsonl, rejected.jsonl,
        datasets.jsonl and manifest.json.

        Example: instructkit dynosaur examples/ --out runs/dyno
        Grow it: instructkit dynosaur my_new_data.jsonl --out runs/dyno
        Report:  instructkit dynosaur --out runs/dyno
        Cost first (no call): instructkit dynosaur examples/ --out runs/dyno --dry-run
        Exactly 100 instances, at most 20 calls: instructkit dynosaur examples/ --out runs/dyno --target 100 --max-calls 20
        On Ray:  instructkit dynosaur examples/ --out runs/dyno --executor ray --ray-address auto
        """
        from instructkit.errors import UserError
        from instructkit.executor import check_executor
        from instructkit.generate.dynosaur import DynosaurConfig
        from instructkit.generate.dynosaur_run import read_summary, run_dynosaur

        setup(quiet)
        llm_options = model_options(timeout, max_retries)
        check_executor(executor, ray_address)
        if not sources:
            if not (out / "manifest.json").is_file():
                raise UserError(f"--out {out}: no dynosaur run there; give SOURCE(s) to process")
            manifest = read_summary(out)
            if manifest.get("command") != "dynosaur":
                raise UserError(f"--out {out} holds a '{manifest.get('command')}' run, not dynosaur")
            typer.echo(format_summary(manifest))
            return
        cfg = DynosaurConfig(modes=_parse_modes(modes), max_tasks=max_tasks)
        if dry_run:
            from instructkit.commands.run import print_command_plan
            from instructkit.pipeline.schema import Dynosaur

            opts = Dynosaur(modes=",".join(cfg.modes), rows=rows, max_tasks=max_tasks, description=description)
            return print_command_plan("dynosaur", opts, out, list(sources), model)
        cards = _load_all(sources, rows, description)
        ex = open_executor(executor, ray_address)
        try:
            def run_some(some: list) -> dict[str, Any]:
                return run_dynosaur(some, out, model=model, cfg=cfg, concurrency=concurrency,
                                    executor=ex if ex.name != "local" else None, **llm_options)

            if target or max_calls:
                from instructkit.pipeline.targets import dynosaur_to_target

                block = dynosaur_to_target(cards, out, target, max_calls, run_some, step=concurrency)
                manifest = read_summary(out)
                manifest["this_run"] = {**(manifest.get("this_run") or {}), "failed_datasets": {}}
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
        failed = (manifest.get("this_run") or {}).get("failed_datasets") or {}
        if failed:
            typer.echo(f"error: {len(failed)} dataset(s) failed on model errors; re-run the same command "
                       "to retry them", err=True)
            raise typer.Exit(1)


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
