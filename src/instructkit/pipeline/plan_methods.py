"""The per-method planners of ``--dry-run``: how many calls a stage makes and how long its prompts are.

Each planner fills a :class:`~instructkit.pipeline.plan.StagePlan` from the stage's options and input,
reading files but calling no model and writing nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plan_dynosaur(p, ctx, counters, n_in, existing: Path | None) -> None:
    """One task-design call per usable dataset-config and mode, exactly as the run renders them."""
    from instructkit.generate.dynosaur.pipeline import DynosaurConfig, fit_view
    from instructkit.generate.dynosaur.prompt import build_messages
    from instructkit.pipeline.stages import _csv, load_cards
    from instructkit.runs import read_jsonl

    cfg = DynosaurConfig(modes=tuple(_csv(ctx.opts.modes) or ()), max_tasks=ctx.opts.max_tasks)
    done: set[str] = set()
    if existing is not None and (existing / "datasets.jsonl").is_file():
        done = {r["id"] for r in read_jsonl(existing / "datasets.jsonl")}
    tc = counters(ctx.model)
    p.prompt_from, p.completion_from = tc.method, "max_tokens"
    seen: set[str] = set()
    rows = 0
    for card in load_cards(ctx):
        if card.key in done or card.key in seen or not card.rows:
            continue
        seen.add(card.key)
        view = fit_view(card, cfg)
        if len(view.fields) <= 1:
            continue
        rows += len(card.rows)
        for mode in cfg.modes:
            p.calls += 1
            p.prompt_tokens += tc.count(build_messages(view, mode, cfg.max_tasks))
    p.completion_tokens = p.calls * cfg.max_tokens
    p.records_out = rows * cfg.max_tasks * len(cfg.modes)
    if done:
        p.notes.append(f"{len(done)} dataset-config(s) already done")
    p.notes.append("records: at most")


def _template_tokens(tc, name: str) -> int:
    from instructkit import prompts

    return tc.count_text(prompts.get("glan/" + name.removeprefix("glan_")).text)


def plan_glan(p, ctx, counters, n_in, existing: Path | None) -> None:
    """Calls per GLAN stage from the settings; prompts from the template sizes plus what they quote."""
    from instructkit.generate.glan.taxonomy import load_taxonomy
    from instructkit.pipeline.stages import glan_config

    cfg = glan_config(ctx)
    n_disc = len(load_taxonomy(cfg.taxonomy).select(cfg.disciplines))
    n_subj = n_disc * (cfg.max_subjects or 10)  # unknown until subjects are merged: 10 per discipline
    n_q = n_subj * cfg.questions_per_syllabus
    tc = counters(ctx.model)
    session = 150  # tokens of the one or two sessions a question prompt quotes
    steps = [  # (calls, template, quoted tokens, completion budget)
        (n_disc * cfg.subject_samples, "glan_subjects", 0, cfg.tokens_for("subjects")),
        (n_disc * cfg.subject_samples, "glan_subjects_extract", cfg.tokens_for("subjects"),
         cfg.tokens_for("subjects_extract")),
        (n_subj, "glan_syllabus", 0, cfg.tokens_for("syllabus")),
        (n_subj, "glan_syllabus_extract", cfg.tokens_for("syllabus"), cfg.tokens_for("syllabus_extract")),
        (n_q, "glan_question", session, cfg.tokens_for("question")),
        (n_q, "glan_answer", cfg.tokens_for("question"), cfg.tokens_for("answer")),
    ]
    for calls, template, quoted, budget in steps:
        p.calls += calls
        p.prompt_tokens += calls * (_template_tokens(tc, template) + quoted)
        p.completion_tokens += calls * budget
    p.prompt_from, p.completion_from = f"estimate ({tc.method} of templates)", "max_tokens"
    p.records_out = n_q
    if not cfg.max_subjects:
        p.notes.append("assumes 10 subjects per discipline (set max_subjects)")


def _input_examples(ctx, n_in: int | None) -> tuple[list[Any] | None, int]:
    from instructkit.errors import UserError
    from instructkit.io import load_examples

    if Path(ctx.input).exists():
        try:
            exs = load_examples(ctx.input)
            return exs, len(exs)
        except UserError:
            pass
    return None, int(n_in or 0)


def plan_qdit(p, ctx, counters, n_in, existing: Path | None) -> None:
    """A judge asks one 2-token question per example; IFD scores two continuations per example."""
    from instructkit.score.llm_scorers import judge_messages

    k = ctx.opts.k
    quality = ctx.opts.quality
    exs, n = _input_examples(ctx, n_in)
    p.records_out = min(k, n) if n else k
    if quality not in ("judge", "ifd"):
        p.model = None
        return
    tc = counters(ctx.model)
    if quality == "judge":
        p.calls, p.completion_tokens, p.completion_from = n, 2 * n, "max_tokens"
        if exs is not None:
            p.prompt_tokens, p.prompt_from = sum(tc.count(judge_messages(e)) for e in exs), tc.method
        else:
            p.prompt_tokens, p.prompt_from = n * 250, "estimate (250 per example)"
    else:
        p.calls, p.completion_from = 2 * n, "none (scoring)"
        if exs is not None:
            p.prompt_tokens = sum(2 * tc.count_text(e.instruction + "\n" + e.input + "\n" + e.output) for e in exs)
            p.prompt_from = tc.method
        else:
            p.prompt_tokens, p.prompt_from = n * 400, "estimate (200 per scored text)"
    if exs is None:
        p.notes.append("input not made yet: counts estimated from the stages before")


def plan_active(p, ctx, counters, n_in, existing: Path | None) -> None:
    """Per task and sampled instance: one greedy answer, then one scoring per instruction (original + K)."""
    from instructkit.errors import UserError
    from instructkit.select.active.uncertainty import (build_messages, build_perturbations, load_tasks_excluding,
                                                       sample_instances)

    o = ctx.opts
    p.completion_from = "max_tokens"
    try:
        tasks = load_tasks_excluding([str(ctx.prev_dir)] if ctx.prev_dir is not None else ctx.inputs,
                                     o.task_field, set())
    except UserError:  # made by a stage that has not run yet
        inst = max(1, (n_in or 0) // max(1, o.instances)) * o.instances
        p.calls, p.prompt_tokens = inst * (o.perturbations + 2), inst * (o.perturbations + 2) * 200
        p.completion_tokens, p.prompt_from = inst * o.max_tokens, "estimate (200 per prompt)"
        p.notes.append("task count estimated")
        return
    tc = counters(ctx.model)
    p.prompt_from = tc.method
    for t in tasks:
        instrs = build_perturbations(t, o.perturbations, o.drop, o.seed)
        for x in sample_instances(t, o.instances, o.seed):
            p.calls += 1 + len(instrs)
            p.completion_tokens += o.max_tokens
            p.prompt_tokens += tc.count(build_messages(instrs[0], x.input))
            # each scoring reads its prompt plus the greedy answer (at most max_tokens)
            p.prompt_tokens += sum(tc.count(build_messages(i, x.input)) + o.max_tokens for i in instrs)


def plan_eval(p, ctx, counters, n_in, existing: Path | None) -> None:
    """One answer per task instance, prompts built as the evaluation builds them."""
    from instructkit.evaluate import build_prompt, load_tasks

    o = ctx.opts
    tasks = load_tasks([ctx.path(t) for t in o.tasks], instances=o.instances)
    spec = o.model or ctx.defaults.model
    tc = counters(spec)
    for t in tasks:
        for inst in t.instances:
            p.calls += 1
            p.prompt_tokens += tc.count([{"role": "user", "content": build_prompt(t, inst, o.demos)}])
    p.completion_tokens, p.prompt_from, p.completion_from = p.calls * o.max_tokens, tc.method, "max_tokens"
    p.model = spec if ctx.prev_dir is None else f"hf:{ctx.prev_dir}"


PLANNERS = {"dynosaur": plan_dynosaur, "glan": plan_glan, "select qdit": plan_qdit,
            "select active": plan_active, "eval": plan_eval}
