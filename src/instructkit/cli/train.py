"""``instructkit train``: supervised fine-tuning on an example file, into a model folder for ``hf:``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import QuietOpt, SkipBadRowsOpt, setup
from instructkit.cli.common import aliased


def register(app: typer.Typer) -> None:
    @app.command("train", cls=aliased({"--base": "--model"}))
    def train_cmd(
        data: Annotated[Path, typer.Argument(help="Examples: our JSONL, Alpaca JSON/JSONL, messages or "
                                             "ShareGPT JSONL, Parquet, CSV or an HF dataset folder.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write (re-running resumes it); "
                                          "use it afterwards as --model hf:MODEL_DIR.")],
        base: Annotated[str, typer.Option("--model", "-m", help="Model to start from: hf:embedded (the bundled SmolLM2-135M) "
                                          "or hf:PATH (a model or adapter folder).")] = "hf:embedded",
        lora: Annotated[bool, typer.Option("--lora/--full", help="Train a LoRA adapter (small, fast) or "
                                           "every weight.")] = True,
        steps: Annotated[Optional[int], typer.Option(min=1, help="Optimizer steps (overrides --epochs).")] = None,
        epochs: Annotated[float, typer.Option(min=0.01, help="Passes over the data.")] = 3.0,
        lr: Annotated[Optional[float], typer.Option(min=0.0, help="Learning rate [default: 2e-4 LoRA, "
                                                    "2e-5 full].")] = None,
        max_len: Annotated[int, typer.Option(min=8, help="Tokens per example (longer ones lose their tail).")] = 512,
        seed: Annotated[int, typer.Option(help="Seed for data order, adapter init and dropout.")] = 0,
        batch_size: Annotated[int, typer.Option(min=1, help="Examples per optimizer step.")] = 8,
        save_every: Annotated[int, typer.Option(min=1, help="Checkpoint every N steps (for resuming).")] = 50,
        skip_bad_rows: SkipBadRowsOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Fine-tune a model on DATA (loss on the responses only) and write it to --out.

        Example: instructkit train examples.jsonl --out my-model --steps 200 &&
        instructkit chat --model hf:my-model "Give me a haiku about rain."

        An interrupted run resumes from its last checkpoint when the same command is run again.
        """
        from instructkit import ui
        from instructkit.loop.train import TrainConfig, train

        quiet = setup(quiet)
        cfg = TrainConfig(data=str(data), out=str(out), base=base, lora=lora, steps=steps, epochs=epochs,
                          lr=lr, max_len=max_len, seed=seed, batch_size=batch_size, save_every=save_every)
        res = train(cfg, argv=sys.argv[1:], skip_bad_rows=skip_bad_rows)
        if quiet:
            return
        if res.already_done:
            ui.info(f"{out} is already trained with these settings ({res.steps} steps); nothing to do")
            return
        loss = (f"loss {res.first_loss:.3f} -> {res.final_loss:.3f}" if res.losses else "no loss logged")
        resumed = f", resumed from step {res.resumed_from}" if res.resumed_from else ""
        per_step = res.seconds / max(1, res.steps - res.resumed_from)
        ui.info(f"trained {'LoRA adapter' if lora else 'full model'} on {res.examples} examples "
                f"({res.dropped} dropped, {res.truncated} truncated): {res.steps} steps{resumed}, {loss}, "
                f"{res.seconds:.1f} s ({per_step:.2f} s/step)")
        ui.info(f"use it with: --model hf:{out}")
