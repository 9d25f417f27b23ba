"""What every GLAN stage shares: the configuration, the models, per-stage accounting, the runner.

All model calls of a GLAN run go through :meth:`Ctx.chat`, which adds the stage's accounting
(calls, cache hits, tokens, model errors, requests per discipline) on top of the door's ledger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from instructkit.aio import gather_or_cancel
from instructkit.errors import ModelError

if TYPE_CHECKING:
    from instructkit.llm import LLM, Completion
    from instructkit.llm.cache import ResponseCache
    from instructkit.llm.usage import UsageLedger
    from instructkit.runs import RunDir

STAGES = ("subjects", "syllabus", "questions", "answers")

# Completion budgets per call kind, sized for a capable model. The embedded 135M model needs
# far less: cap them all with GlanConfig.max_tokens (CLI --max-tokens).
DEFAULT_MAX_TOKENS = {"subjects": 1536, "subjects_extract": 2048, "syllabus": 2048,
                      "syllabus_extract": 3072, "question": 512, "answer": 1536}
MAX_SESSIONS = 40       # sanity bound on sessions per syllabus
MAX_CONCEPTS = 10       # sanity bound on key concepts per session


@dataclass
class GlanConfig:
    """Settings of one GLAN run (the CLI flags of ``instructkit glan``)."""

    taxonomy: str = "builtin"
    disciplines: list[str] | None = None
    subject_samples: int = 10
    max_subjects: int | None = None          # per discipline, most-mentioned first
    max_sessions: int = MAX_SESSIONS         # sessions of a syllabus the sampler may use
    questions_per_syllabus: int = 10
    two_session_ratio: float = 0.5
    model: str = "local"
    subject_model: str | None = None
    syllabus_model: str | None = None
    question_model: str | None = None
    answer_model: str | None = None
    seed: int = 0
    concurrency: int = 8
    timeout: float | None = None             # per attempt, openai: models (None: env or 120 s)
    max_retries: int | None = None           # openai: models (None: env or 5)
    max_tokens: int | None = None            # caps every call's completion budget
    stages: tuple[str, ...] = STAGES
    # checks (generate/glan/checks.py): no model call, re-judged on every run
    answer_checks: bool = True               # refusal, echo, off-topic (and truncation, below)
    truncated_answers: str = "auto"          # auto | reject | keep (auto: keep only under a --max-tokens cap)
    question_dedup: bool = True              # drop near-duplicate questions per syllabus
    near_dup_threshold: float = 0.8          # Jaccard of normalized word sets

    def model_for(self, stage: str) -> str:
        own = {"subjects": self.subject_model, "syllabus": self.syllabus_model,
               "questions": self.question_model, "answers": self.answer_model}[stage]
        return own or self.model

    def tokens_for(self, kind: str) -> int:
        n = DEFAULT_MAX_TOKENS[kind]
        return min(n, self.max_tokens) if self.max_tokens else n

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stages"] = list(self.stages)
        d["models"] = {s: self.model_for(s) for s in STAGES}
        return d


class ModelPool:
    """One LLM per model spec, sharing the run's cache and ledger (a spec used by two stages loads once)."""

    def __init__(self, cache: "ResponseCache | None", ledger: "UsageLedger", concurrency: int = 8,
                 opener: Callable[[str], "LLM"] | None = None, timeout: float | None = None,
                 max_retries: int | None = None):
        self.cache, self.ledger, self.concurrency = cache, ledger, concurrency
        self.timeout, self.max_retries = timeout, max_retries
        self._opener = opener
        self._llms: dict[str, LLM] = {}

    def get(self, spec: str) -> "LLM":
        if spec not in self._llms:
            if self._opener is not None:
                llm = self._opener(spec)
                llm.ledger = self.ledger
                if self.cache is not None and llm.cache is None:
                    llm.cache = self.cache
            else:
                from instructkit.llm import open_model

                llm = open_model(spec, cache=self.cache, ledger=self.ledger, concurrency=self.concurrency,
                                 timeout=self.timeout, max_retries=self.max_retries)
            self._llms[spec] = llm
        return self._llms[spec]

    async def aclose(self) -> None:
        for llm in self._llms.values():
            await llm.aclose()


@dataclass
class StageStats:
    requests: int = 0        # chat requests made (cache hits included)
    calls: int = 0           # requests that reached a model (paid for)
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_errors: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model_errors"] = dict(self.model_errors)
        return d


@dataclass
class Ctx:
    """The run directory, configuration, models and accounting shared by the stages."""

    run: "RunDir"
    cfg: GlanConfig
    pool: ModelPool
    stages: dict[str, StageStats] = field(default_factory=dict)
    requests_by_discipline: Counter = field(default_factory=Counter)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    unfinished: set[str] = field(default_factory=set)

    def account(self, stage: str, planned: list[str], records: dict[str, dict[str, Any]]) -> None:
        """Count a stage's planned, finished and failed nodes (missing = model error, retried next run)."""
        done = [i for i in planned if i in records and not records[i].get("failure")]
        failed = [i for i in planned if i in records and records[i].get("failure")]
        missing = [i for i in planned if i not in records]
        self.outcomes[stage] = {"planned": len(planned), "done": len(done), "failed": len(failed),
                                "missing": len(missing)}
        repaired = sum(1 for i in done if records[i].get("repaired"))
        if repaired:  # salvaged from a malformed answer: counted, so a reader knows (issue 20)
            self.outcomes[stage]["repaired"] = repaired
        self.unfinished |= set(failed) | set(missing)

    async def chat(self, stage: str, discipline: str, spec: str, messages: list[dict[str, str]],
                   template: str, **sampling: Any) -> "Completion | ModelError":
        """A chat request accounted to ``stage`` and ``discipline``; a failed call is returned, not raised."""
        st = self.stages.setdefault(stage, StageStats())
        st.requests += 1
        self.requests_by_discipline[discipline] += 1
        try:
            comp = await self.pool.get(spec).chat(messages, template=template, **sampling)
        except ModelError as e:
            st.model_errors[e.kind] += 1
            return e
        if comp.cached:
            st.cache_hits += 1
        else:
            st.calls += 1
            st.prompt_tokens += comp.prompt_tokens
            st.completion_tokens += comp.completion_tokens
        return comp


async def run_jobs(desc: str, jobs: list[Callable[[], Awaitable[None]]], ledger: "UsageLedger | None") -> None:
    """Run ``jobs`` concurrently (the door bounds in-flight calls) under one progress bar."""
    from instructkit import ui

    if not jobs:
        return
    with ui.progress(desc, total=len(jobs), ledger=ledger) as bar:
        async def one(job: Callable[[], Awaitable[None]]) -> None:
            await job()
            bar.advance()

        await gather_or_cancel(*(one(j) for j in jobs))
