"""GLAN: instruction data synthesized from a taxonomy of human knowledge (Li et al., 2024).

taxonomy -> subjects (sampled free text, then extracted) -> syllabus per subject (generated,
then extracted into sessions and key concepts) -> homework questions (one fresh seeded concept
draw each, single- or two-session, never two alike) -> answers (a separate stage, any model).

Every node has a stable id and every stage is resumable per node (see ``stages`` and
``qa`` for the streams); the run directory holds:

* ``subjects_raw`` / ``subjects_extracted`` / ``subjects.jsonl`` (merged, with counts),
* ``syllabi_raw`` / ``syllabi`` (sessions, usable concepts, outlier flags),
* ``questions`` (draw + question), ``answers`` (keyed by question and answer model),
* ``examples.jsonl`` (rewritten atomically at the end of each run from the streams),
* ``rejected.jsonl`` (every failure and why) and ``manifest.json`` (counts, failures, calls,
  tokens, coverage; ``outputs.examples`` names ``examples.jsonl``). Nodes left by model errors
  make the run ``partial`` (retried on re-run), or ``failed`` when no example came out.

>>> from instructkit.runs import RunDir
>>> cfg = GlanConfig(disciplines=["Chemistry"], subject_samples=1, max_subjects=1,
...                  questions_per_syllabus=2, max_tokens=128)
>>> with RunDir("out/glan", command="glan") as run:   # doctest: +SKIP
...     result = run_glan(run, cfg)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from instructkit.generate.glan.checks import check_answers, drop_near_duplicates
from instructkit.generate.glan.context import STAGES, Ctx, GlanConfig, ModelPool
from instructkit.generate.glan.qa import answers_stage, questions_stage
from instructkit.generate.glan.report import build_examples, coverage, failures
from instructkit.generate.glan.stages import Subject, subjects_stage, syllabus_stage
from instructkit.generate.glan.taxonomy import load_taxonomy
from instructkit.runs import atomic_write_jsonl

if TYPE_CHECKING:
    from instructkit.llm import LLM
    from instructkit.records import Example
    from instructkit.runs import RunDir

__all__ = ["GlanConfig", "GlanResult", "run_glan", "STAGES"]


@dataclass
class GlanResult:
    """What a run produced (also written to the manifest)."""

    examples: list["Example"] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    stages: dict[str, Any] = field(default_factory=dict)
    coverage: dict[str, Any] = field(default_factory=dict)
    requests_by_discipline: dict[str, int] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    status: str = "complete"
    unfinished: int = 0                                     # nodes left by model errors (retried on re-run)
    model_errors: dict[str, int] = field(default_factory=dict)


def run_glan(run: "RunDir", cfg: GlanConfig, opener: Callable[[str], "LLM"] | None = None) -> GlanResult:
    """Run (or resume) GLAN into ``run``. ``opener`` builds an LLM from a spec (tests inject faults).

    Stages not named in ``cfg.stages`` make no model calls: they only read what earlier runs
    stored, so ``stages=("answers",)`` with a new answer model re-answers existing questions.
    """
    from instructkit.llm.cache import ResponseCache
    from instructkit.llm.usage import UsageLedger

    unknown = set(cfg.stages) - set(STAGES)
    if unknown:
        from instructkit.errors import UserError

        raise UserError(f"--stages: unknown stage(s) {', '.join(sorted(unknown))}; use {','.join(STAGES)}")
    tax = load_taxonomy(cfg.taxonomy)
    disciplines = tax.select(cfg.disciplines)
    ledger = UsageLedger()
    ctx = Ctx(run, cfg, ModelPool(ResponseCache(run.cache_path), ledger, cfg.concurrency, opener,
                                  timeout=cfg.timeout, max_retries=cfg.max_retries))
    state: dict[str, Any] = {}

    def checkpoint(stage: str) -> None:
        # so a killed run still leaves its accounting behind
        run.update(last_stage=stage, stages=_stage_report(ctx))
        run.record_usage(ledger)

    async def go() -> None:
        try:
            merged = await subjects_stage(ctx, disciplines, "subjects" in cfg.stages)
            state["merged"] = merged
            selected = [s for d in disciplines for s in merged[d.id][: cfg.max_subjects or None]]
            atomic_write_jsonl(run.path / "subjects.jsonl",
                               [dict(s.to_dict(), selected=(i < (cfg.max_subjects or len(merged[d.id]))))
                                for d in disciplines for i, s in enumerate(merged[d.id])])
            state["subjects"] = {s.id: s for s in selected}
            checkpoint("subjects")
            state["syllabi"] = await syllabus_stage(ctx, selected, "syllabus" in cfg.stages)
            checkpoint("syllabus")
            questions = await questions_stage(ctx, state["syllabi"], state["subjects"], "questions" in cfg.stages)
            state["questions"] = drop_near_duplicates(ctx, questions)  # before answering: no call is paid for them
            checkpoint("questions")
            answers = await answers_stage(ctx, state["questions"], state["subjects"], "answers" in cfg.stages)
            state["answers"] = check_answers(ctx, state["questions"], answers)
        finally:
            await ctx.pool.aclose()

    asyncio.run(go())
    subjects: dict[str, Subject] = state["subjects"]
    examples = build_examples(state["questions"], state["answers"], {s["id"]: s for s in state["syllabi"]},
                              subjects)
    atomic_write_jsonl(run.path / "examples.jsonl", [e.to_dict() for e in examples])
    result = GlanResult(
        examples=examples,
        counts=_counts(disciplines, state, examples, ctx.outcomes),
        failures=failures(run.path, ctx.unfinished, {"questions": ctx.outcomes["questions_dedup"],
                                                     "answers": ctx.outcomes["answer_checks"]}),
        stages=_stage_report(ctx),
        coverage=coverage(state["syllabi"], state["questions"], subjects, examples),
        requests_by_discipline={d.name: ctx.requests_by_discipline.get(d.name, 0) for d in disciplines},
        usage=ledger.snapshot(),
    )
    result.unfinished, result.model_errors = _unfinished(ctx, cfg)
    result.status = run.finish(
        outputs={"examples": "examples.jsonl", "subjects": "subjects.jsonl", "rejected": "rejected.jsonl"},
        counts=result.counts, usage=ledger, failed=result.unfinished, produced=len(examples),
        this_run={"model_errors": result.model_errors},
        taxonomy={"name": tax.name, "source": tax.source, "disciplines": len(disciplines)},
        failures=result.failures, stages=result.stages, coverage=result.coverage,
        requests_by_discipline=result.requests_by_discipline, last_stage="done")
    return result


def _unfinished(ctx: Ctx, cfg: GlanConfig) -> tuple[int, dict[str, int]]:
    """Nodes this run's model errors left without a record (each is retried on re-run), and the
    errors by kind. Nodes dropped for a reason (an empty answer, an exhausted draw) are not counted."""
    from collections import Counter

    kinds: Counter = Counter()
    for st in ctx.stages.values():
        kinds.update(st.model_errors)
    return sum(kinds.values()), dict(kinds)


def _stage_report(ctx: Ctx) -> dict[str, Any]:
    """Per stage: nodes planned/done/failed/missing and this run's requests, calls and tokens."""
    out: dict[str, Any] = {name: dict(o) for name, o in ctx.outcomes.items()}
    for name, st in ctx.stages.items():  # extraction calls are accounted to their stage
        out.setdefault(name, {})["this_run"] = st.to_dict()
    return out


def _counts(disciplines, state: dict[str, Any], examples: list["Example"],
            outcomes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Counts for the manifest; questions and answers are those kept by the checks (see ``stages``)."""
    merged: dict[str, list[Subject]] = state["merged"]
    named = sum(s.count for subs in merged.values() for s in subs)
    unique = sum(len(subs) for subs in merged.values())
    syllabi = state["syllabi"]
    qs = state["questions"]
    return {
        "disciplines": len(disciplines),
        "subjects_named": named,
        "subjects_unique": unique,
        "subjects_duplicates_merged": named - unique,
        "subjects_selected": len(state["subjects"]),
        "syllabi": len(syllabi),
        "syllabi_usable": sum(1 for s in syllabi if not s.get("failure")),
        "syllabi_flagged": sum(1 for s in syllabi if s.get("flags")),
        "syllabus_flags": sorted({f.split(":")[0] for s in syllabi for f in s.get("flags", [])}),
        "sessions": sum(len(s["sessions"]) for s in syllabi),
        "questions": sum(1 for q in qs if not q.get("failure")),
        "questions_near_duplicates": sum(outcomes["questions_dedup"]["rejected"].values()),
        "answers": sum(1 for a in state["answers"].values() if not a.get("failure")),
        "answers_rejected": dict(outcomes["answer_checks"]["rejected"]),
        "examples": len(examples),
    }
