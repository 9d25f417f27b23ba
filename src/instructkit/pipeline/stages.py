"""Run one recipe stage by calling the library functions its command calls, into an ordinary run directory.

Every runner takes a :class:`StageRun` (the stage's options, its input path(s), its directory, the
recipe's defaults) and leaves ``ctx.dir`` as the command itself would. :func:`stage_output` then
finds what the next stage reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructkit.errors import UserError
from instructkit.pipeline.schema import Defaults, StageOptions


@dataclass
class StageRun:
    name: str
    opts: StageOptions
    dir: Path
    inputs: list[str]                 # the previous stage's output, or the recipe's sources
    defaults: Defaults
    base_dir: Path                    # relative paths in options resolve here
    prev_dir: Path | None = None      # the previous stage's directory (a trained model, tasks)
    notes: dict[str, Any] = field(default_factory=dict)  # what the runner reports to the recipe manifest

    @property
    def model(self) -> str:
        return getattr(self.opts, "model", None) or self.defaults.model

    @property
    def concurrency(self) -> int:
        return getattr(self.opts, "concurrency", None) or self.defaults.concurrency

    @property
    def input(self) -> str:
        return self.inputs[0]

    def path(self, p: str) -> str:
        q = Path(p).expanduser()
        return str(q if q.is_absolute() else self.base_dir / q)


def stage_output(run_dir: Path, name: str) -> Path:
    """The file (or folder) of ``run_dir`` the next stage reads: ``manifest.outputs.examples`` when the
    command names it there (every command does), else the file that command wrote before that."""
    from instructkit.io import old_examples_file
    from instructkit.runs import manifest_output

    run_dir = Path(run_dir)
    named = manifest_output(run_dir, "examples", folders=True)
    if named is not None:
        return named
    if name == "replay":
        last = sorted(run_dir.glob("stage_*/train.jsonl"), key=lambda p: int(p.parent.name.split("_")[-1]))
        if last:
            return last[-1]
    old = old_examples_file(name)
    return run_dir / old if old else run_dir


def _csv(v: str | list[str] | None) -> list[str] | None:
    if v is None:
        return None
    items = v.split(",") if isinstance(v, str) else v
    return [str(s).strip() for s in items if str(s).strip()]


def run_dynosaur_stage(ctx: StageRun) -> None:
    from instructkit.generate.dynosaur.pipeline import DynosaurConfig
    from instructkit.generate.dynosaur.prompt import MODES
    from instructkit.generate.dynosaur.run import run_dynosaur
    from instructkit.generate.dynosaur.verify import VerifyConfig, parse_signals

    modes = tuple(dict.fromkeys(_csv(ctx.opts.modes) or []))
    if not modes or set(modes) - set(MODES):
        raise UserError(f"stage '{ctx.name}': modes {ctx.opts.modes!r}: use a subset of {','.join(MODES)}")
    o = ctx.opts
    cfg = DynosaurConfig(modes=modes, max_tasks=o.max_tasks, verify=o.verify, verify_model=o.verify_model,
                         verification=VerifyConfig(rows=o.verify_rows, threshold=o.verify_threshold,
                                                   signals=parse_signals(o.verify_signals)))
    cards = load_cards(ctx)

    def run_some(some: list) -> dict[str, Any]:
        return run_dynosaur(some, ctx.dir, model=ctx.model, cfg=cfg, concurrency=ctx.concurrency,
                            argv=["run", ctx.name])

    if o.target or o.max_calls:
        from instructkit.pipeline.targets import dynosaur_to_target

        ctx.notes["target"] = dynosaur_to_target(cards, ctx.dir, o.target, o.max_calls, run_some,
                                                 step=ctx.concurrency)
        return
    failed = (run_some(cards).get("this_run") or {}).get("failed_datasets") or {}
    if failed:
        ctx.notes["failed"] = len(failed)


def load_cards(ctx: StageRun) -> list:
    from instructkit.sources import expand_sources, load_source

    o = ctx.opts
    cards = []
    for s in expand_sources(list(ctx.inputs)):
        cards.extend(load_source(s, rows=o.rows, description=o.description))
    return cards


def glan_config(ctx: StageRun):
    from instructkit.generate.glan import STAGES, GlanConfig

    o = ctx.opts
    tax = o.taxonomy if o.taxonomy == "builtin" else ctx.path(o.taxonomy)
    return GlanConfig(taxonomy=tax, disciplines=_csv(o.disciplines), subject_samples=o.subject_samples,
                      max_subjects=o.max_subjects, max_sessions=o.max_sessions,
                      questions_per_syllabus=o.questions_per_syllabus,
                      two_session_ratio=o.two_session_ratio, model=ctx.model,
                      subject_model=o.subject_model, syllabus_model=o.syllabus_model,
                      question_model=o.question_model, answer_model=o.answer_model,
                      seed=o.seed, concurrency=ctx.concurrency, max_tokens=o.max_tokens,
                      stages=tuple(STAGES), answer_checks=o.answer_checks, truncated_answers=o.truncated_answers,
                      question_dedup=o.question_dedup, near_dup_threshold=o.near_dup_threshold)


def run_glan_stage(ctx: StageRun) -> None:
    from instructkit.generate.glan import run_glan
    from instructkit.generate.glan.taxonomy import load_taxonomy
    from instructkit.runs import RunDir

    cfg = glan_config(ctx)
    load_taxonomy(cfg.taxonomy).select(cfg.disciplines)  # a bad taxonomy fails before anything is written

    def run_once(c) -> Any:
        with RunDir(ctx.dir, command="glan", config=c.to_dict(), argv=["run", ctx.name]) as run:
            return run_glan(run, c)

    o = ctx.opts
    if o.target or o.max_calls:
        from instructkit.pipeline.targets import glan_to_target

        ctx.notes["target"] = glan_to_target(cfg, ctx.dir, o.target, o.max_calls, run_once)
        return
    ctx.notes["examples"] = len(run_once(cfg).examples)


def run_dedup_stage(ctx: StageRun) -> None:
    from instructkit.clean.dedup import DedupConfig, dedup, write_dedup
    from instructkit.clean.text import parse_fields
    from instructkit.io import load_examples

    o = ctx.opts.model_dump()
    cfg = DedupConfig(**{**o, "fields": parse_fields(o["fields"])})
    cfg.validate()
    exs = load_examples(ctx.input)
    write_dedup(exs, dedup(exs, cfg), ctx.dir, cfg, argv=["run", ctx.name])


def run_decontaminate_stage(ctx: StageRun) -> None:
    from instructkit.clean.decontam import DecontamConfig, decontaminate, write_decontam
    from instructkit.clean.text import parse_fields
    from instructkit.io import load_examples

    o = ctx.opts
    cfg = DecontamConfig(ngram=o.ngram, fields=parse_fields(o.fields), min_exact_chars=o.min_exact_chars,
                         bench_fields=_csv(o.bench_fields))
    exs = load_examples(ctx.input)
    write_decontam(exs, decontaminate(exs, [ctx.path(p) for p in o.against], cfg), ctx.dir, cfg,
                   argv=["run", ctx.name])


def run_qdit_stage(ctx: StageRun) -> None:
    from instructkit.io import load_examples
    from instructkit.select.qdit.run import QditSettings, run_qdit

    o = ctx.opts
    cfg = QditSettings(k=o.k, alpha=o.alpha, quality=o.quality, embedder=o.embedder, text=o.text,
                       engine=o.engine, seed=o.seed, order=o.order, approx_check=o.approx_check,
                       model=ctx.model, concurrency=ctx.concurrency)
    run_qdit(load_examples(ctx.input), ctx.input, ctx.dir, cfg, argv=["run", ctx.name])


def run_active_stage(ctx: StageRun) -> None:
    from instructkit.select.active.uncertainty import ScoreConfig, select_active

    o = ctx.opts
    cfg = ScoreConfig(instances=o.instances, perturbations=o.perturbations, drop=o.drop, seed=o.seed,
                      max_tokens=o.max_tokens)
    src = str(ctx.prev_dir) if ctx.prev_dir is not None else ctx.input
    select_active([src], ctx.dir, o.k, model=ctx.model, cfg=cfg, strategy=o.strategy,
                  cls_ratio=o.cls_ratio, task_field=o.task_field, concurrency=ctx.concurrency,
                  argv=["run", ctx.name])


def run_replay_stage(ctx: StageRun) -> None:
    from instructkit.select.replay import run_replay

    o = ctx.opts
    run_replay([ctx.path(p) for p in o.earlier] + [ctx.input], str(ctx.dir), o.budget, o.strategy,
               o.objective, o.embedder, o.seed, o.task_field, o.max_per_task, argv=["run", ctx.name])


EXPORT_FILES = {"alpaca": "train.json", "sharegpt": "train.jsonl", "messages": "train.jsonl", "hf": "dataset"}


def run_export_stage(ctx: StageRun) -> None:
    from instructkit.export import export_examples
    from instructkit.io import load_examples
    from instructkit.runs import RunDir

    o = ctx.opts
    name = o.file or EXPORT_FILES[o.format]
    exs = load_examples(ctx.input)
    with RunDir(ctx.dir, command="export", config={"input": ctx.input, **o.model_dump()},
                argv=["run", ctx.name]) as run:
        written = export_examples(exs, o.format, run.path / name, system=o.system,
                                  with_meta=not o.no_meta, name=o.name, source=ctx.input)
        run.update(counts={"examples": len(exs)}, outputs={"examples": written.name}, format=o.format)


def run_train_stage(ctx: StageRun) -> None:
    from instructkit.loop.train import TrainConfig, train

    o = ctx.opts.model_dump()
    train(TrainConfig(data=ctx.input, out=str(ctx.dir), **o), argv=["run", ctx.name])


def run_eval_stage(ctx: StageRun) -> None:
    from instructkit.loop.evaluate import evaluate, load_tasks

    o = ctx.opts
    model = o.model or (f"hf:{ctx.prev_dir}" if ctx.prev_dir is not None else ctx.defaults.model)
    tasks = load_tasks([ctx.path(p) for p in o.tasks], instances=o.instances)
    evaluate(model, tasks, ctx.dir, demos=o.demos, max_tokens=o.max_tokens, concurrency=ctx.concurrency,
             argv=["run", ctx.name])


RUNNERS: dict[str, Callable[[StageRun], None]] = {
    "dynosaur": run_dynosaur_stage, "glan": run_glan_stage, "dedup": run_dedup_stage,
    "decontaminate": run_decontaminate_stage, "select qdit": run_qdit_stage, "select active": run_active_stage,
    "replay": run_replay_stage, "export": run_export_stage, "train": run_train_stage, "eval": run_eval_stage,
}
