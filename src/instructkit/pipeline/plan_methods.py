"""The per-method planners of ``--dry-run``: how many calls a stage makes and how long its prompts are.

Each planner fills a :class:`~instructkit.pipeline.plan.StagePlan` from the stage's options and input,
reading files but calling no model and writing nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plan_dynosaur(p, ctx, counters, n_in, existing: Path | None) -> None:
    """One task-design call per usable dataset-config and mode, exactly as the run renders them; then,
    with verification on, two score calls per held row of every task that passes the filters."""
    from instructkit.generate.dynosaur.pipeline import DynosaurConfig, fit_view
    from instructkit.generate.dynosaur.prompt import build_messages
    from instructkit.pipeline import priors
    from instructkit.pipeline.stages import _csv, load_cards
    from instructkit.runs import read_jsonl

    o = ctx.opts
    cfg = DynosaurConfig(modes=tuple(_csv(o.modes) or ()), max_tasks=o.max_tasks)
    done: set[str] = set()
    if existing is not None and (existing / "datasets.jsonl").is_file():
        done = {r["id"] for r in read_jsonl(existing / "datasets.jsonl")}
    tc = counters(ctx.model)
    p.prompt_from = tc.method
    seen: set[str] = set()
    rows, row_tokens = 0, []  # per usable dataset-config: (held rows per task, tokens of one whole row)
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
        held = min(o.verify_rows, len(card.rows))
        row_tokens.append((held, _row_tokens(tc, card.rows[:held], [f.name for f in view.fields])))
    p.gen_calls = p.calls
    p.completion_max = p.calls * cfg.max_tokens
    p.completion_tokens = p.calls * priors.design_completion(cfg.max_tasks, cfg.max_tokens)
    p.completion_from = f"prior ({priors.DESIGN_TOKENS_PER_TASK}/task asked for)"
    p.records_out = rows * cfg.max_tasks * len(cfg.modes)
    if o.verify and "likelihood" in _csv(o.verify_signals) and row_tokens:
        _plan_verification(p, o, cfg, row_tokens)
    if done:
        p.notes.append(f"{len(done)} dataset-config(s) already done")
    p.notes.append("records: at most")


def _row_tokens(tc, rows: list[dict], fields: list[str]) -> int:
    """Mean tokens of a row's fields as an instance shows them (input + output)."""
    if not rows:
        return 0
    texts = ["\n".join(f"{k}: {r.get(k)}" for k in fields if r.get(k) is not None) for r in rows]
    return round(sum(tc.count_text(t) for t in texts) / len(texts))


def _plan_verification(p, o, cfg, row_tokens: list[tuple[int, int]]) -> None:
    """Score calls of the likelihood check: 2 per held row (with the instruction and with the null one),
    for every task that passes the filters; tasks asked for bound them, the prior says how many pass."""
    from instructkit.pipeline import priors

    per_mode = len(cfg.modes) * cfg.max_tasks
    calls_max = sum(2 * held * per_mode for held, _ in row_tokens)
    # at most: the task shows the whole row; expected: the share of a row's fields a task uses
    tokens_max = sum(2 * held * per_mode * (tok + priors.INSTRUCTION_TOKENS) for held, tok in row_tokens)
    tokens = sum(2 * held * per_mode * (round(tok * priors.FIELD_SHARE) + priors.INSTRUCTION_TOKENS)
                 for held, tok in row_tokens)
    verify_calls = round(calls_max * priors.VERIFY_REACH)
    p.calls_max = p.calls + calls_max
    p.prompt_max = p.prompt_tokens + tokens_max
    p.calls += verify_calls
    p.prompt_tokens += round(tokens * priors.VERIFY_REACH)
    p.notes.append(f"verification: {verify_calls} score calls expected (at most {calls_max}: every task kept)")


def _render_tokens(tc, name: str, **variables: Any) -> int:
    from instructkit.generate.glan import prompts as glan_prompts

    return tc.count(glan_prompts.render(name, **variables)[0])


def _filler(tokens: int) -> str:
    """Text of about ``tokens`` tokens, standing in for a model's answer that a later prompt quotes."""
    return " ".join(["word"] * max(1, int(tokens)))


def plan_glan(p, ctx, counters, n_in, existing: Path | None) -> None:
    """Calls per GLAN step from the settings; prompts rendered from the templates with the taxonomy's
    disciplines and stand-ins of the expected size for what they quote; the questions a syllabus of
    the expected shape allows (drawn by the run's own sampler)."""
    from instructkit.generate.glan.taxonomy import load_taxonomy
    from instructkit.pipeline import priors
    from instructkit.pipeline.stages import glan_config

    cfg = glan_config(ctx)
    discs = load_taxonomy(cfg.taxonomy).select(cfg.disciplines)
    n_disc = len(discs)
    n_subj = n_disc * (cfg.max_subjects or 10)  # unknown until subjects are merged: 10 per discipline
    tc = counters(ctx.model)
    budget = {k: cfg.tokens_for(k) for k in ("subjects", "subjects_extract", "syllabus", "syllabus_extract",
                                               "question", "answer")}
    spec = {k: cfg.model_for(s) for k, s in (("subjects", "subjects"), ("subjects_extract", "subjects"),
                                              ("syllabus", "syllabus"), ("syllabus_extract", "syllabus"),
                                              ("question", "questions"), ("answer", "answers"))}
    want = {k: round(budget[k] * priors.glan_share(k, spec[k])) for k in budget}
    shapes = priors.syllabus_shapes(budget["syllabus_extract"], cfg.max_sessions, spec["syllabus_extract"])
    q_each = sum(_questions_per_syllabus(cfg, s, c) for s, c in shapes) / len(shapes)
    sizes = [_glan_prompt_sizes(tc, discs[0], s, c) for s, c in shapes]
    prompt = {k: (lambda q, k=k: sum(z[k](q) for z in sizes) / len(sizes)) for k in sizes[0]}
    n_calls = {"subjects": n_disc * cfg.subject_samples, "subjects_extract": n_disc * cfg.subject_samples,
               "syllabus": n_subj, "syllabus_extract": n_subj, "question": round(n_subj * q_each),
               "answer": round(n_subj * q_each)}
    n_max = {**n_calls, "question": n_subj * cfg.questions_per_syllabus,
             "answer": n_subj * cfg.questions_per_syllabus}
    p.calls_max, p.prompt_max, p.completion_max = 0, 0, 0
    for kind, render in prompt.items():
        p.calls += n_calls[kind]
        p.prompt_tokens += round(n_calls[kind] * render(want))
        p.completion_tokens += n_calls[kind] * want[kind]
        p.calls_max += n_max[kind]
        p.prompt_max += round(n_max[kind] * render(budget))
        p.completion_max += n_max[kind] * budget[kind]
    p.prompt_from = f"{tc.method} of the rendered templates, quoted answers at their expected size"
    basis = "embedded-model calibration" if priors.is_embedded(ctx.model) else "half of each budget"
    p.completion_from = f"prior ({basis})"
    p.records_out = round(n_subj * q_each)
    shown = ", ".join(f"{s}x{c}" for s, c in shapes)
    p.notes.append(f"syllabi expected: sessions x concepts {shown} -> {q_each:.1f} of "
                   f"{cfg.questions_per_syllabus} question(s) each")
    if not cfg.max_subjects:
        p.notes.append("assumes 10 subjects per discipline (set max_subjects)")


def _glan_prompt_sizes(tc, d, sessions: int, concepts: int) -> dict[str, Any]:
    """Per call kind: tokens of its prompt, given the sizes of the answers it quotes (the taxonomy's
    first discipline; a syllabus of the expected shape; stand-in text for what models write)."""
    subj = {"discipline": d.name, "subject": _filler(6), "level": "undergraduate"}
    view = [{"number": i + 1, "title": _filler(10), "description": _filler(15),
             "key_concepts": [_filler(8)] * concepts} for i in range(sessions)]
    return {
        "subjects": (lambda _: _render_tokens(tc, "glan_subjects", discipline=d.name, field=d.field,
                                              sub_field=d.sub_field, description=d.description)),
        "subjects_extract": (lambda q: _render_tokens(tc, "glan_subjects_extract", discipline=d.name,
                                                      text=_filler(q["subjects"]))),
        "syllabus": (lambda _: _render_tokens(tc, "glan_syllabus", subtopics=[_filler(3)] * 4, **subj)),
        "syllabus_extract": (lambda q: _render_tokens(tc, "glan_syllabus_extract", discipline=d.name,
                                                      subject=subj["subject"], text=_filler(q["syllabus"]))),
        "question": (lambda _: _render_tokens(tc, "glan_question", syllabus=view, learned_up_to=sessions,
                                              strategy="single_session", chosen=view[:1],
                                              concepts=view[0]["key_concepts"], **subj)),
        "answer": (lambda q: _render_tokens(tc, "glan_answer", discipline=d.name, question=_filler(q["question"]))),
    }


def _questions_per_syllabus(cfg, sessions: int, concepts: int) -> int:
    """Distinct questions the run's sampler draws from a syllabus of this shape (it refuses duplicates)."""
    from instructkit.generate.glan.sampler import draw_questions

    shape = [[f"s{i}c{j}" for j in range(concepts)] for i in range(sessions)]
    draws = draw_questions("plan", shape, cfg.questions_per_syllabus, cfg.seed, cfg.two_session_ratio)
    return sum(1 for x in draws if x is not None)


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
        p.calls, p.gen_calls, p.completion_from = 2 * n, 0, "none (scoring)"
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

    from instructkit.pipeline import priors

    o = ctx.opts
    answer = round(o.max_tokens * priors.FREE_TEXT_SHARE)  # expected greedy answer
    p.completion_from = f"prior ({priors.FREE_TEXT_SHARE} x max_tokens, no measurement)"
    try:
        tasks = load_tasks_excluding([str(ctx.prev_dir)] if ctx.prev_dir is not None else ctx.inputs,
                                     o.task_field, set())
    except UserError:  # made by a stage that has not run yet
        inst = max(1, (n_in or 0) // max(1, o.instances)) * o.instances
        p.calls, p.prompt_tokens = inst * (o.perturbations + 2), inst * (o.perturbations + 2) * 200
        p.completion_max, p.prompt_from = inst * o.max_tokens, "estimate (200 per prompt)"
        p.gen_calls, p.completion_tokens = inst, round(inst * o.max_tokens * priors.FREE_TEXT_SHARE)
        p.completion_from = f"prior ({priors.FREE_TEXT_SHARE} x max_tokens, no measurement)"
        p.notes.append("task count estimated")
        return
    tc = counters(ctx.model)
    p.prompt_from = tc.method
    p.gen_calls, p.prompt_max, p.completion_max = 0, 0, 0
    for t in tasks:
        instrs = build_perturbations(t, o.perturbations, o.drop, o.seed)
        for x in sample_instances(t, o.instances, o.seed):
            p.calls += 1 + len(instrs)
            p.gen_calls += 1
            p.completion_tokens += answer
            p.completion_max += o.max_tokens
            prompts = tc.count(build_messages(instrs[0], x.input)) + sum(
                tc.count(build_messages(i, x.input)) for i in instrs)
            # each scoring reads its prompt plus the greedy answer (at most max_tokens)
            p.prompt_tokens += prompts + len(instrs) * answer
            p.prompt_max += prompts + len(instrs) * o.max_tokens


def plan_eval(p, ctx, counters, n_in, existing: Path | None) -> None:
    """One answer per task instance, prompts built as the evaluation builds them."""
    from instructkit.loop.evaluate import build_prompt, load_tasks

    o = ctx.opts
    tasks = load_tasks([ctx.path(t) for t in o.tasks], instances=o.instances)
    spec = o.model or ctx.defaults.model
    tc = counters(spec)
    for t in tasks:
        for inst in t.instances:
            p.calls += 1
            p.prompt_tokens += tc.count([{"role": "user", "content": build_prompt(t, inst, o.demos)}])
    from instructkit.pipeline import priors

    p.completion_max, p.prompt_from = p.calls * o.max_tokens, tc.method
    p.completion_tokens = round(p.calls * o.max_tokens * priors.FREE_TEXT_SHARE)
    p.completion_from = f"prior ({priors.FREE_TEXT_SHARE} x max_tokens, no measurement)"
    p.model = spec if ctx.prev_dir is None else f"hf:{ctx.prev_dir}"


PLANNERS = {"dynosaur": plan_dynosaur, "glan": plan_glan, "select qdit": plan_qdit,
            "select active": plan_active, "eval": plan_eval}
