"""``instructkit glan``: synthesize instruction data from a taxonomy of human knowledge."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import (ConcurrencyOpt, ExecutorOpt, MaxRetriesOpt, ModelOpt, QuietOpt,
                                    RayAddressOpt, TimeoutOpt, check_model, model_options, open_executor,
                                    setup)
from instructkit.cli.run import DryRunOpt, MaxCallsOpt, TargetOpt, MaxCostOpt, MaxTokensOpt, budgeted

SubjectModel = Annotated[Optional[str], typer.Option(help="Model for subjects (default: --model).")]
SyllabusModel = Annotated[Optional[str], typer.Option(help="Model for syllabi (default: --model).")]
QuestionModel = Annotated[Optional[str], typer.Option(help="Model for questions (default: --model).")]
AnswerModel = Annotated[Optional[str], typer.Option(
    help="Model for answers (default: --model); a new one re-answers existing questions.")]


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [p.strip() for p in value.split(",") if p.strip()]


def register(app: typer.Typer) -> None:
    @app.command("glan")
    @budgeted
    def glan(
        out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory; re-running resumes it.")] = None,
        taxonomy: Annotated[str, typer.Option(help="'builtin' or a YAML file (fields -> sub_fields -> disciplines).")] = "builtin",
        disciplines: Annotated[Optional[str], typer.Option(
            help="Comma-separated discipline names to generate for (default: all in the taxonomy).")] = None,
        subject_samples: Annotated[int, typer.Option(min=1, help="Subject-list samples per discipline (T=1.0).")] = 10,
        max_subjects: Annotated[Optional[int], typer.Option(
            min=1, help="Keep at most this many subjects per discipline (most-named first).")] = None,
        max_sessions: Annotated[int, typer.Option(min=1, max=40, help="Sessions of a syllabus questions may draw from.")] = 40,
        questions_per_syllabus: Annotated[int, typer.Option(min=1, help="Homework questions per syllabus.")] = 10,
        two_session_ratio: Annotated[float, typer.Option(
            min=0.0, max=1.0, help="Share of questions drawn from two sessions (the rest: one session).")] = 0.5,
        model: ModelOpt = "local",
        subject_model: SubjectModel = None,
        syllabus_model: SyllabusModel = None,
        question_model: QuestionModel = None,
        answer_model: AnswerModel = None,
        stages: Annotated[str, typer.Option(
            help="Stages that may call models: subjects,syllabus,questions,answers. Others only "
                 "read what the run directory holds (e.g. --stages answers --answer-model M re-answers).")]
            = "subjects,syllabus,questions,answers",
        max_tokens: Annotated[Optional[int], typer.Option(
            min=16, help="Cap on every call's completion tokens (small models: 128-256).")] = None,
        seed: Annotated[int, typer.Option(help="Run seed: sampling and the per-question concept draws.")] = 0,
        answer_checks: Annotated[bool, typer.Option(
            "--answer-checks/--no-answer-checks",
            help="Check each answer against its question: reject refusals, echoes of the question and answers "
                 "sharing no content word with it (reasons answer_* in rejected.jsonl).")] = True,
        truncated_answers: Annotated[str, typer.Option(
            help="Answers cut at the token limit: auto (reject, but keep under a --max-tokens cap), "
                 "reject or keep.")] = "auto",
        question_dedup: Annotated[bool, typer.Option(
            "--question-dedup/--no-question-dedup",
            help="Drop near-duplicate questions of a syllabus before answering (near_duplicate_question).")] = True,
        near_dup_threshold: Annotated[float, typer.Option(
            min=0.0, max=1.0, help="Jaccard similarity of two questions' word sets at which the later one "
                                   "is a near duplicate.")] = 0.8,
        list_disciplines: Annotated[bool, typer.Option(
            "--list-disciplines", help="Print the taxonomy (with discipline ids) and exit.")] = False,
        concurrency: ConcurrencyOpt = 8,
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
        """Synthesize instruction data from a taxonomy (GLAN): disciplines -> subjects -> syllabi ->
        homework questions -> step-by-step answers.

        Every stage is resumable per node: re-run the same command on the same --out to resume
        after a crash, or after adding a discipline to your taxonomy (only its subtree is generated).

        Example (a real model): instructkit glan --out runs/glan --disciplines Chemistry,Carpentry --model openai:gpt-4o-mini

        Example (the embedded 135M model, tiny settings): instructkit glan --out runs/glan-tiny --disciplines Chemistry --subject-samples 1 --max-subjects 1 --max-sessions 5 --questions-per-syllabus 2 --max-tokens 128

        On a Ray cluster (every node's model calls fanned out): add --executor ray --ray-address auto

        List the built-in taxonomy: instructkit glan --list-disciplines

        Cost first (no call): add --dry-run. Exactly N examples: add --target N --max-calls M

        Checks (no model call; re-judged on every run, so tuning them costs nothing): e.g.
        --near-dup-threshold 0.6 drops more look-alike questions, --truncated-answers keep keeps cut answers.

        With a budget: add --max-cost 2.50 or --max-tokens-total 200000 (exit 3 when it stops there; re-run
        with a higher budget to continue: earlier runs count, cached answers are free)
        """
        from instructkit.errors import UserError
        from instructkit.executor import check_executor
        from instructkit.generate.glan.taxonomy import format_tree, load_taxonomy

        quiet = setup(quiet)
        if list_disciplines:
            tax = load_taxonomy(taxonomy)
            typer.echo(format_tree(tax))
            return
        if out is None:
            raise UserError("--out DIR is required (the run directory; re-running resumes it)")
        options = model_options(timeout, max_retries, concurrency)
        from instructkit.generate.glan import STAGES, GlanConfig, run_glan
        from instructkit.runs import RunDir

        if truncated_answers not in ("auto", "reject", "keep"):
            raise UserError(f"--truncated-answers {truncated_answers!r}: use auto, reject or keep")
        wanted = _split(stages) or []
        bad = [s for s in wanted if s not in STAGES]
        if bad or not wanted:
            raise UserError(f"--stages: {', '.join(bad) or 'empty'} not understood; "
                            f"use a comma-separated subset of {','.join(STAGES)}")

        cfg = GlanConfig(taxonomy=taxonomy, disciplines=_split(disciplines), subject_samples=subject_samples,
                         max_subjects=max_subjects, max_sessions=max_sessions,
                         questions_per_syllabus=questions_per_syllabus, two_session_ratio=two_session_ratio,
                         model=model, subject_model=subject_model, syllabus_model=syllabus_model,
                         question_model=question_model, answer_model=answer_model, seed=seed,
                         concurrency=concurrency, timeout=timeout, max_retries=max_retries, max_tokens=max_tokens,
                         stages=tuple(wanted), answer_checks=answer_checks, truncated_answers=truncated_answers,
                         question_dedup=question_dedup, near_dup_threshold=near_dup_threshold)
        # validate the taxonomy and selection before creating the run directory
        load_taxonomy(taxonomy).select(cfg.disciplines)
        if dry_run:
            from instructkit.cli.run import print_command_plan
            from instructkit.pipeline.schema import Glan

            opts = Glan(taxonomy=taxonomy, disciplines=cfg.disciplines, subject_samples=subject_samples,
                        max_subjects=max_subjects, max_sessions=max_sessions, max_tokens=max_tokens,
                        questions_per_syllabus=questions_per_syllabus, two_session_ratio=two_session_ratio,
                        subject_model=subject_model, syllabus_model=syllabus_model, question_model=question_model,
                        answer_model=answer_model, seed=seed)
            return print_command_plan("glan", opts, out, [], model)
        for spec in dict.fromkeys(cfg.model_for(s) for s in cfg.stages):
            check_model(spec)
        check_executor(executor, ray_address)
        ex = open_executor(executor, ray_address)
        state: dict = {}

        def run_once(c: GlanConfig):
            with RunDir(out, command="glan", config=c.to_dict()) as run:
                # on Ray each node's model call is a task on the cluster; the driver still appends
                # every result to the run directory's streams, so resume works as locally
                state["result"] = run_glan(run, c, opener=ex.llm_opener(concurrency, options))
                run.manifest["executor"] = ex.describe()
                run.save_manifest()
            return state["result"]

        try:
            if target or max_calls:
                from instructkit.pipeline.targets import glan_to_target

                block = glan_to_target(cfg, out, target, max_calls, run_once)
                if not quiet:
                    typer.echo(f"target {target or '-'}: {block['accepted']} examples accepted, {block['rejected']} "
                               f"rejected, {block['calls']} calls" + (f" (stopped: {block['stopped']})"
                                                                      if block["stopped"] else ""))
            else:
                run_once(cfg)
            result = state["result"]
        finally:
            ex.close()
        if not quiet:
            _summary(out, result)
        from instructkit.cli.outcome import exit_for_status, failure_words

        exit_for_status(result.status, failure_words(result.unfinished, None, "node(s)", result.model_errors)
                        + f", {len(result.examples)} example(s) written")


def _summary(out: Path, result) -> None:
    from instructkit.ui import console

    c, cov, u = result.counts, result.coverage, result.usage
    lines = [
        f"[bold]GLAN[/bold] -> {out}",
        f"  disciplines {c['disciplines']} · subjects {c['subjects_unique']} unique "
        f"({c['subjects_duplicates_merged']} duplicates merged), {c['subjects_selected']} used",
        f"  syllabi {c['syllabi_usable']}/{c['syllabi']} usable ({c['syllabi_flagged']} flagged) · "
        f"questions {c['questions']} · answers {c['answers']} · examples {c['examples']}",
        f"  checks: {c.get('questions_near_duplicates', 0)} near-duplicate question(s) dropped · answers rejected "
        f"{_reasons(c.get('answers_rejected') or {})}",
        f"  key concepts used {cov['key_concepts_used']}/{cov['key_concepts_total']} "
        f"({cov['key_concept_share_used']:.0%}) · strategies {cov['strategies']}",
        f"  this run: {u['calls']} calls, {u['cache_hits']} cache hits, {u['total_tokens']:,} tokens",
        f"  status: {result.status}" + (f" ({result.unfinished} node(s) left by model errors; re-run to retry)"
                                        if result.unfinished else ""),
    ]
    if result.failures:
        lines.append("  failures: " + ", ".join(f"{k} {v}" for k, v in sorted(result.failures.items())) +
                     f" (see {out}/rejected.jsonl)")
    console().print("\n".join(lines))


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) if counts else "none"
