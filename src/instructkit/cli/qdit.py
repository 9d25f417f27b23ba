"""``instructkit select qdit``: quality-diversity selection (QDIT)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import (ConcurrencyOpt, ExecutorOpt, MaxRetriesOpt, ModelOpt, OutOpt,
                                    QuietOpt, RayAddressOpt, SkipBadRowsOpt, TimeoutOpt)
from instructkit.cli.run import DryRunOpt, MaxCostOpt, MaxTokensOpt, budgeted


def _parse_sweep(text: str) -> list[float]:
    from instructkit.errors import UserError

    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--sweep '{text}': give comma-separated alphas, e.g. 0,0.25,0.5,0.75,1") from None
    if not vals or any(not 0 <= v <= 1 for v in vals):
        raise UserError(f"--sweep '{text}': every alpha must be in [0, 1]")
    return vals


@budgeted
def qdit_command(
    input: Annotated[Path, typer.Argument(help="Examples: JSONL/JSON/Parquet/CSV/HF folder (Alpaca, messages, ours).")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="How many examples to select.")],
    out: OutOpt,
    alpha: Annotated[float, typer.Option("--alpha", min=0.0, max=1.0,
                                         help="Quality weight: 0 = diversity only, 1 = quality top-k.")] = 0.7,
    quality: Annotated[Optional[str], typer.Option(
        "--quality", help="Quality: a numeric COLUMN | judge | ifd | reward:/local/model. None = diversity only.")] = None,
    embedder: Annotated[str, typer.Option("--embedder", help="minilm (bundled) | st:MODEL_OR_PATH")] = "minilm",
    text: Annotated[str, typer.Option("--text", help="What is embedded: instruction | instruction+input | "
                                      "instruction+input+output | output")] = "instruction",
    engine: Annotated[str, typer.Option("--engine", help="auto | lazy | blocked | approx")] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Seed for random baselines and the approx index.")] = 0,
    order: Annotated[str, typer.Option("--order", help="Order of selected.jsonl: input | selection")] = "input",
    sweep: Annotated[Optional[str], typer.Option(
        "--sweep", help="Also write a trade-off table + plot for these alphas, e.g. 0,0.25,0.5,0.75,1")] = None,
    approx_check: Annotated[int, typer.Option(
        "--approx-check", min=0, metavar="N",
        help="With the approx engine: also select from N random pool examples with both the approx and the "
             "exact engine and write their objective ratio to summary.json (approx_check); 0 = skip.")] = 20_000,
    model: ModelOpt = "local",
    concurrency: ConcurrencyOpt = 4,
    timeout: TimeoutOpt = None,
    max_retries: MaxRetriesOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    partitions: Annotated[Optional[int], typer.Option(
        "--partitions", min=1, help="With --executor ray: GreeDi parts (local greedy per part, then greedy "
                                    "over their union); default one per 50,000 examples (1 = exact QDIT).")] = None,
    skip_bad_rows: SkipBadRowsOpt = False,
    dry_run: DryRunOpt = False,
    max_cost: MaxCostOpt = None,
    max_tokens_total: MaxTokensOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Select K examples that are both good and diverse (QDIT, facility location + quality).

    Example: instructkit select qdit alpaca.jsonl --k 1000 --quality judge --out runs/qdit
    writes runs/qdit/selected.jsonl, summary.json and manifest.json; add --sweep 0,0.5,1 for a
    trade-off table (sweep.csv/json) and plot (sweep.png). Embeddings and scores are cached.
    Add --dry-run to see the judge's calls and tokens first, and --max-cost 1.00 or --max-tokens-total
    50000 to cap the judge (exit 3 when it stops there; re-run with a higher budget: scores are cached).

    On a Ray cluster (embeddings and model scores as map_batches actors, GreeDi selection):
    instructkit select qdit big.jsonl --k 10000 --out runs/qdit --executor ray --ray-address auto
    """
    from instructkit.cli.common import check_model, model_options, open_executor, setup
    from instructkit.errors import UserError
    from instructkit.executor import check_executor
    from instructkit.io import read_examples
    from instructkit.runs import check_out_dir
    from instructkit.select.qdit import run as qdit_run
    from instructkit.select.qdit.select import ENGINES

    quiet = setup(quiet)
    llm_options = model_options(timeout, max_retries, concurrency)
    if engine not in ENGINES:
        raise UserError(f"--engine '{engine}' not understood; use one of {', '.join(ENGINES)}")
    if order not in ("input", "selection"):
        raise UserError(f"--order '{order}' not understood; use input or selection")
    if text not in qdit_run.TEXT_MODES:
        raise UserError(f"--text '{text}' not understood; use one of {', '.join(qdit_run.TEXT_MODES)}")
    alphas = _parse_sweep(sweep) if sweep else None
    if alphas and not quality:
        raise UserError("--sweep needs --quality: without a quality signal alpha has no effect, so every "
                        "point of the sweep is the same selection")
    _check_scorer_and_embedder(quality, model, embedder, check_model)
    check_executor(executor, ray_address)
    if partitions and executor != "ray":
        raise UserError("--partitions is only used with --executor ray")
    if dry_run:
        from instructkit.cli.run import print_command_plan
        from instructkit.pipeline.schema import SelectQdit

        opts = SelectQdit(k=k, alpha=alpha, quality=quality, embedder=embedder, text=text, engine=engine, seed=seed,
                          order=order, approx_check=approx_check, model=model)
        return print_command_plan("select qdit", opts, out, [str(input)], model)
    check_out_dir(out)
    examples, bad = read_examples(input, skip_bad_rows)  # before the run directory: bad input writes nothing
    ex = open_executor(executor, ray_address)
    try:
        cfg = qdit_run.QditSettings(k=k, alpha=alpha, quality=quality, embedder=embedder, text=text,
                                    engine=engine, seed=seed, order=order, sweep=alphas,
                                    approx_check=approx_check, model=model, concurrency=concurrency)
        res, n_written = qdit_run.run_qdit(examples, str(input), out, cfg, executor=ex, partitions=partitions,
                                           llm_options=llm_options, bad_rows=bad)
    finally:
        ex.close()
    _print_summary(res.summary, n_written, len(examples), alpha if quality else None, out)


def _check_scorer_and_embedder(quality, model, embedder, check_model) -> None:
    """A model the quality scorer needs and the embedder, checked before the run directory exists."""
    from instructkit.embed import check_embedder
    from instructkit.score import needs_model

    if quality and needs_model(quality):
        check_model(model)
    check_embedder(embedder)


def _print_summary(s, n_written, n_pool, alpha, out) -> None:
    """``alpha`` None: no quality signal, so the line says diversity only rather than a meaningless alpha."""
    from instructkit import ui

    how = f"alpha {alpha}" if alpha is not None else "diversity only: no --quality, so --alpha has no effect"
    ui.info(f"selected {n_written} of {n_pool} (engine {s['engine']}, {how}) → {out}/selected.jsonl")
    if s.get("note"):
        ui.warn(s["note"])
    if s.get("bad_rows"):
        ui.warn(f"left out {s['bad_rows']} bad input rows; each with its reason in {out}/rejected.jsonl")
    rows = [("qdit", s["qdit"]), ("random", s["random"])] + ([("quality-only", s["quality_only"])]
                                                             if s["quality_only"] else [])
    for name, d in rows:
        qm = "" if d["mean_quality"] is None else \
            f"  mean quality {d['mean_quality']:.3f}  worst-10% {d['worst10_quality']:.3f}"
        ui.info(f"  {name:<13} diversity {d['diversity']:.4f}{qm}")
    c = s.get("approx_check")
    if c:
        ui.info(f"  approx vs exact greedy on {c['subsample']:,} random examples (k={c['k']}): objective "
                f"{c['approx_objective']:.4f} vs {c['exact_objective']:.4f} = {100 * c['ratio']:.2f}%")


def register_select(select_app: typer.Typer) -> None:
    select_app.command("qdit")(qdit_command)
