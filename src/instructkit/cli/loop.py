"""``instructkit active-loop`` and ``instructkit replay-run``: select → train → eval, automated.

Only typer and the plain settings dataclass are imported here at start-up; the work lives in
``instructkit.loop``.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from instructkit.cli.common import OutOpt, QuietOpt, setup
from instructkit.cli.common import aliased
from instructkit.loop.settings import TrainEvalSettings  # a plain dataclass: light at start-up

BaseOpt = Annotated[str, typer.Option("--model", "-m", help="Model every training starts from: hf:embedded (the "
                                      "bundled SmolLM2-135M) or hf:PATH.")]
StepsOpt = Annotated[Optional[int], typer.Option("--steps", min=1, help="Optimizer steps per training "
                                                 "(overrides --epochs).")]
EpochsOpt = Annotated[float, typer.Option("--epochs", min=0.01, help="Passes over the data per training.")]
LoraOpt = Annotated[bool, typer.Option("--lora/--full", help="Train LoRA adapters or every weight.")]
LrOpt = Annotated[Optional[float], typer.Option("--lr", min=0.0, help="Learning rate [default: 2e-4 LoRA, "
                                                "2e-5 full].")]
MaxLenOpt = Annotated[int, typer.Option("--max-len", min=8, help="Tokens per training example.")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Examples per optimizer step.")]
SaveEveryOpt = Annotated[int, typer.Option("--save-every", min=1, help="Training checkpoint every N steps "
                                           "(what a killed run resumes from).")]
EvalInstOpt = Annotated[Optional[int], typer.Option("--eval-instances", min=1, help="First N instances of "
                                                    "each eval task [default: all].")]
EvalTokOpt = Annotated[int, typer.Option("--eval-max-tokens", min=1, help="Longest eval answer, in tokens.")]
DemosOpt = Annotated[int, typer.Option("--demos", min=0, max=2, help="Demonstrations in eval prompts.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of scoring draws, random picks and training.")]
TaskFieldOpt = Annotated[str, typer.Option("--task-field", help="Task id column of example files.")]

# The training/eval options both commands take, in --help order, each named after the
# TrainEvalSettings field it sets (and whose default it shows).
TRAIN_EVAL_OPTS: dict[str, Any] = {
    "steps": StepsOpt, "epochs": EpochsOpt, "lora": LoraOpt, "lr": LrOpt, "max_len": MaxLenOpt,
    "batch_size": BatchOpt, "save_every": SaveEveryOpt, "eval_instances": EvalInstOpt,
    "eval_max_tokens": EvalTokOpt, "demos": DemosOpt, "task_field": TaskFieldOpt, "seed": SeedOpt,
}


def with_train_eval_options(fn: Callable[..., None]) -> Callable[..., None]:
    """Give command ``fn`` the training/eval options, in place of its ``train_eval`` parameter.

    Typer reads a command's options from its signature, so the wrapper shows typer ``fn``'s
    signature with ``train_eval`` replaced by one parameter per option of :data:`TRAIN_EVAL_OPTS`;
    ``fn`` receives their values as the dict ``train_eval`` (field name -> value).
    """
    defaults = {f.name: f.default for f in fields(TrainEvalSettings)}
    params: list[inspect.Parameter] = []
    for p in inspect.signature(fn, eval_str=True).parameters.values():
        if p.name != "train_eval":
            params.append(p)
            continue
        params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=opt, default=defaults[name])
                   for name, opt in TRAIN_EVAL_OPTS.items()]

    @functools.wraps(fn)
    def command(**kwargs: Any) -> None:
        fn(**{k: v for k, v in kwargs.items() if k not in TRAIN_EVAL_OPTS},
           train_eval={k: kwargs[k] for k in TRAIN_EVAL_OPTS})

    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params])
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


def register(app: typer.Typer) -> None:
    @app.command("active-loop", cls=aliased({"--base": "--model"}))
    @with_train_eval_options
    def active_loop_cmd(
        tasks: Annotated[list[Path], typer.Argument(help="The task pool: SuperNI task files or folders, "
                                                    "Dynosaur runs, or example files with a task id column.")],
        rounds: Annotated[int, typer.Option("--rounds", min=1, help="Rounds of score → select → train → "
                                            "eval (more can be added later on the same --out).")],
        k: Annotated[int, typer.Option("--k", min=1, help="Tasks selected per round.")],
        eval_tasks: Annotated[list[Path], typer.Option("--eval", help="Held-out eval tasks (SuperNI files, "
                                                       "tasks.jsonl, or a folder); repeat for several.")],
        out: OutOpt,
        strategy: Annotated[str, typer.Option("--strategy", help="uncertainty | random | high-perplexity | "
                                              "low-perplexity")] = "uncertainty",
        base: BaseOpt = "hf:embedded",
        instances: Annotated[int, typer.Option("--instances", min=1, help="Instances scored per task (n).")] = 10,
        perturbations: Annotated[int, typer.Option("--perturbations", min=1,
                                                   help="Perturbed instructions per task (K).")] = 10,
        drop: Annotated[float, typer.Option("--drop", min=0.0, max=1.0, help="Word-drop probability of "
                                            "a perturbation.")] = 0.2,
        max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Longest greedy answer when "
                                                "scoring.")] = 64,
        cls_ratio: Annotated[Optional[float], typer.Option("--cls-ratio", min=0.0, max=1.0,
                                                           help="Share of classification tasks per round.")] = None,
        *,
        train_eval: dict[str, Any],  # --steps ... --seed: see with_train_eval_options
        quiet: QuietOpt = False,
    ) -> None:
        """Active Instruction Tuning, automated: per round score the remaining tasks with the current
        model, select the top K, train from the base on every task selected so far, evaluate.

        Example: instructkit active-loop examples/active --rounds 3 --k 2 --eval held-out/ --out runs/ait --steps 60

        Writes OUT/<strategy>/round_<r>/ (select/, train.jsonl, model/, eval/, round.json), OUT/curve.json
        and OUT/learning_curve.png (ROUGE-L vs training tasks, one line per strategy run in OUT).
        Re-running resumes: finished rounds are skipped, a killed round continues where it stopped.
        """
        from instructkit import ui
        from instructkit.loop.active_loop import LoopConfig, run_active_loop
        from instructkit.run_contract import check_out_dir

        quiet = setup(quiet)
        cfg = LoopConfig(tasks=[str(p) for p in tasks], eval_tasks=[str(p) for p in eval_tasks], out=str(out),
                         k=k, rounds=rounds, strategy=strategy, base=base, instances=instances,
                         perturbations=perturbations, drop=drop, max_tokens=max_tokens, cls_ratio=cls_ratio,
                         **train_eval)
        check_out_dir(out)  # one line, exit 2, before the tasks are read or a model loads
        res = run_active_loop(cfg, argv=sys.argv[1:])
        if quiet:
            return
        typer.echo(f"{'round':>5}  {'tasks':>5}  {'ROUGE-L':>7}  selected")
        for rec in res["rounds"]:
            rl = rec["eval"].get("rougeL")
            typer.echo(f"{rec['round']:>5}  {len(rec['train_tasks']):>5}  "
                       f"{'-' if rl is None else f'{rl:.2f}':>7}  {', '.join(rec['selected'])}")
        ui.info(f"learning curve: {out / 'curve.json'} and {out / 'learning_curve.png'}")

    @app.command("replay-run", cls=aliased({"--base": "--model", "--budget": "--k"}))
    @with_train_eval_options
    def replay_run_cmd(
        stages: Annotated[list[Path], typer.Argument(help="One task source per stage, in training order "
                                                     "(then --eval-per-stage with one eval set per stage).")],
        budget: Annotated[int, typer.Option("--k", min=0, help="Earlier tasks replayed per stage (the replay budget).")],
        eval_per_stage: Annotated[list[Path], typer.Option("--eval-per-stage", help="Held-out eval set of each "
                                                           "stage, in stage order: list them after the flag "
                                                           "(or repeat it).")],
        out: OutOpt,
        strategy: Annotated[str, typer.Option("--strategy", help="instruction-diverse | data-diverse | "
                                              "similar | random | none")] = "instruction-diverse",
        base: BaseOpt = "hf:embedded",
        objective: Annotated[str, typer.Option("--objective", help="facility-location | k-center")] = "facility-location",
        embedder: Annotated[str, typer.Option("--embedder", help="minilm | st:MODEL")] = "minilm",
        max_per_task: Annotated[int, typer.Option("--max-per-task", min=0, help="Examples replayed per "
                                                  "task (0 = all).")] = 0,
        *,
        train_eval: dict[str, Any],  # --steps ... --seed: see with_train_eval_options
        quiet: QuietOpt = False,
    ) -> None:
        """Continual instruction tuning: train stage after stage (each from the previous stage's model)
        on its tasks plus a replay set of earlier tasks, and after each stage report ROUGE-L on the
        current and every earlier stage's held-out eval set.

        Example: instructkit replay-run s1/ s2/ s3/ --k 2 --eval-per-stage e1/ e2/ e3/ --out runs/cl --steps 40

        Writes OUT/results.json and OUT/table.md (stages × eval sets); re-running resumes per stage.
        LoRA stages merge the previous stage's adapter and train a fresh one on top (see the README).
        """
        from instructkit.loop.replay_run import ReplayRunConfig, run_replay_stages
        from instructkit.run_contract import check_out_dir

        quiet = setup(quiet)
        stage_list, eval_list = split_stage_args(list(stages), list(eval_per_stage))
        cfg = ReplayRunConfig(stages=stage_list, eval_sets=eval_list, out=str(out), budget=budget,
                              strategy=strategy, base=base, objective=objective, embedder=embedder,
                              max_per_task=max_per_task, **train_eval)
        check_out_dir(out)
        res = run_replay_stages(cfg, argv=sys.argv[1:])
        if not quiet:
            typer.echo(res["markdown"])
            from instructkit import ui

            ui.info(f"wrote {out / 'results.json'} and {out / 'table.md'}")


def split_stage_args(positional: list[Path], evals: list[Path]) -> tuple[list[str], list[str]]:
    """Stages and eval sets from what the parser saw.

    ``--eval-per-stage E1 E2`` hands E1 to the option and E2 to the positional list (typer options
    take one value each), so the positional list holds the stages followed by the extra eval sets:
    there must be as many eval sets as stages in total.

    >>> split_stage_args([Path("s1"), Path("s2"), Path("e2")], [Path("e1")])
    (['s1', 's2'], ['e1', 'e2'])
    """
    from instructkit.errors import UserError

    total = len(positional) + len(evals)
    if total % 2:
        raise UserError(f"replay-run: {len(positional)} stage path(s) and {len(evals)} eval set(s) cannot pair "
                        "up; give the stages, then --eval-per-stage followed by one eval set per stage")
    n = total // 2
    return [str(p) for p in positional[:n]], [str(p) for p in evals] + [str(p) for p in positional[n:]]
