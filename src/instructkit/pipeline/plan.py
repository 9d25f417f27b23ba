"""``--dry-run``: per stage the planned model calls, prompt and completion tokens, and cost; no call made.

Prompt tokens: rendered prompts counted by :class:`~instructkit.pipeline.tokens.TokenCounter` where the
prompt is known before the run (Dynosaur's task-design prompts, the examples a judge or eval reads);
GLAN's later prompts depend on earlier answers, so they are estimated from the template sizes plus
the expected size of what they quote. Completion tokens, two figures: the upper bound (every answer
at its ``max_tokens``: what a budget must allow) and the expected value: the mean of the answers
already in the stage's cache (or in a moved-aside earlier version of the stage) once a run has data,
else the calibration table of :mod:`instructkit.pipeline.priors`. Records flowing
between stages are estimated too (a select keeps k, dedup keeps all), so a judge's calls after a
generator are an estimate until the generator has run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructkit.llm.usage import price_for
from instructkit.pipeline.tokens import TokenCounter, observed_completion_mean


@dataclass
class StagePlan:
    stage: str
    dir: str
    status: str = "to run"                 # to run | done (0 calls)
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0             # expected
    completion_from: str = ""              # observed mean | prior (...) | max_tokens
    gen_calls: int | None = None           # calls that generate text (None: all); score calls generate none
    calls_max: int | None = None           # upper bounds (None: the expected value is also the bound)
    prompt_max: int | None = None
    completion_max: int | None = None
    prompt_from: str = ""                  # tokenizer | chars/4 | estimate
    records_out: int | None = None
    model: str | None = None
    notes: list[str] = field(default_factory=list)

    def _cost(self, prompt: int, completion: int) -> float | None:
        from instructkit.llm import parse_spec

        if not self.model:
            return None
        price = price_for(parse_spec(self.model)[1])
        if price is None:
            return None
        return round((prompt * price[0] + completion * price[1]) / 1e6, 6)

    @property
    def cost_usd(self) -> float | None:
        return self._cost(self.prompt_tokens, self.completion_tokens)

    @property
    def max_tokens_total(self) -> int:
        """Prompt + completion tokens with every answer at its max_tokens (and every call made)."""
        return (self.prompt_tokens if self.prompt_max is None else self.prompt_max) + \
            (self.completion_tokens if self.completion_max is None else self.completion_max)

    @property
    def max_cost_usd(self) -> float | None:
        return self._cost(self.prompt_tokens if self.prompt_max is None else self.prompt_max,
                          self.completion_tokens if self.completion_max is None else self.completion_max)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "cost_usd": self.cost_usd, "max_tokens_total": self.max_tokens_total,
                "max_cost_usd": self.max_cost_usd}


class _Counters:
    """One token counter per model spec (loading a tokenizer once)."""

    def __init__(self) -> None:
        self._by_spec: dict[str, TokenCounter] = {}

    def __call__(self, spec: str) -> TokenCounter:
        if spec not in self._by_spec:
            self._by_spec[spec] = TokenCounter(spec)
        return self._by_spec[spec]


def plan_pipeline(pipe, out: str | Path) -> list[StagePlan]:
    """The plan of ``pipe`` run into ``out`` (reads what ``out`` holds; writes nothing)."""
    from instructkit.pipeline.runner import uses_model
    from instructkit.pipeline.stages import StageRun, stage_output

    out = Path(out)
    pipe.check_sources()
    try:
        before = {s["dir"]: s for s in json.loads((out / "manifest.json").read_text()).get("stages") or []}
    except (OSError, ValueError):
        before = {}
    counters = _Counters()
    plans: list[StagePlan] = []
    inputs = [pipe.resolve(s) for s in pipe.defaults.sources]
    prev_dir, n_in = None, None
    for (name, opts), d, fp in zip(pipe.stages, pipe.stage_dirs(out), pipe.fingerprints()):
        rec = before.get(d.name)
        same = rec is not None and rec.get("fingerprint") == fp and d.is_dir()
        ctx = StageRun(name=name, opts=opts, dir=d, inputs=inputs, defaults=pipe.defaults,
                       base_dir=pipe.base_dir, prev_dir=prev_dir)
        p = StagePlan(stage=name, dir=d.name, model=ctx.model if uses_model(name, opts) else None)
        if same and rec.get("status") == "complete":
            p.status, p.records_out = "done", _count_lines(stage_output(d, name))
        else:
            plan_stage(p, ctx, counters, n_in, d if same else None)
        plans.append(p)
        n_in = p.records_out
        out_path = stage_output(d, name)
        inputs, prev_dir = [str(out_path)], d
    return plans


def plan_stage(p: StagePlan, ctx, counters: _Counters, n_in: int | None, existing: Path | None) -> None:
    """Fill ``p`` for one stage; ``existing``: its directory when a run of the same stage is there."""
    from instructkit.pipeline import plan_methods as pm

    fn = pm.PLANNERS.get(ctx.name)
    if fn is None:  # no model calls: records pass through or are cut to k
        k = getattr(ctx.opts, "k", None)
        p.records_out = min(k, n_in) if (k and n_in is not None) else (k or n_in)
        return
    fn(p, ctx, counters, n_in, existing)
    gen = p.calls if p.gen_calls is None else p.gen_calls
    if gen:
        for d in _earlier_runs(ctx.dir, existing):
            mean = observed_completion_mean(d)
            if mean is not None:
                expected = round(mean * gen)
                p.completion_tokens = expected if p.completion_max is None else min(expected, p.completion_max)
                p.completion_from = f"observed mean {mean:.0f}/answer ({d.name})"
                break


def _earlier_runs(d: Path, existing: Path | None) -> list[Path]:
    """Run directories of this stage whose answers say how long this model's answers are: the stage's own
    (same fingerprint), then versions moved aside after an edit (newest first)."""
    found = [existing] if existing is not None else []
    try:
        found += sorted(d.parent.glob(f"{d.name}.old-*"), key=lambda q: q.stat().st_mtime, reverse=True)
    except OSError:
        pass
    return found


def _count_lines(path: Path) -> int | None:
    if path.is_file() and path.suffix == ".jsonl":
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    return None


def plan_totals(plans: list[StagePlan]) -> dict[str, Any]:
    costs = [p.cost_usd for p in plans if p.cost_usd is not None]
    max_costs = [p.max_cost_usd for p in plans if p.max_cost_usd is not None]
    return {"calls": sum(p.calls for p in plans), "prompt_tokens": sum(p.prompt_tokens for p in plans),
            "completion_tokens": sum(p.completion_tokens for p in plans),
            "total_tokens": sum(p.prompt_tokens + p.completion_tokens for p in plans),
            "calls_max": sum(p.calls if p.calls_max is None else p.calls_max for p in plans),
            "max_tokens_total": sum(p.max_tokens_total for p in plans),
            "cost_usd": round(sum(costs), 6) if costs else None,
            "max_cost_usd": round(sum(max_costs), 6) if max_costs else None}


def format_plan(plans: list[StagePlan]) -> str:
    """The plan as a table (expected calls, tokens and cost; then the upper bound of the tokens, with
    every answer at its max_tokens); the last line says nothing was called or written."""
    rows = [f"{'stage':<22} {'status':<7} {'calls':>6} {'prompt tok':>11} {'compl. tok':>11} {'cost':>10} "
            f"{'at most tok':>11}  how (expected values; 'at most': every answer at max_tokens)"]
    for p in plans:
        cost = "n/a" if p.cost_usd is None else f"${p.cost_usd:.4f}"
        how = ", ".join(x for x in (f"prompt: {p.prompt_from}" if p.prompt_from else "",
                                    f"completion: {p.completion_from}" if p.completion_from else "",
                                    *p.notes) if x)
        rows.append(f"{p.dir:<22} {p.status:<7} {p.calls:>6} {p.prompt_tokens:>11,} {p.completion_tokens:>11,} "
                    f"{cost:>10} {p.max_tokens_total:>11,}  {how}")
    t = plan_totals(plans)
    cost = ("n/a (no priced model)" if t["cost_usd"] is None
            else f"${t['cost_usd']:.4f} (at most ${t['max_cost_usd']:.4f})")
    rows.append(f"total: {t['calls']} model calls (at most {t['calls_max']}), {t['prompt_tokens']:,} prompt + "
                f"{t['completion_tokens']:,} completion = {t['total_tokens']:,} tokens expected (at most "
                f"{t['max_tokens_total']:,}, every answer at max_tokens), estimated cost {cost}")
    rows.append("dry run: no model was called and nothing was written")
    return "\n".join(rows)


def plan_command(name: str, opts, out: str | Path, inputs: list[str], model: str) -> list[StagePlan]:
    """The plan of one command (``instructkit dynosaur ... --dry-run``) run into ``out``."""
    from instructkit.pipeline.runner import uses_model
    from instructkit.pipeline.schema import Defaults
    from instructkit.pipeline.stages import StageRun

    out = Path(out)
    defaults = Defaults(sources=[], model=model, stages=[name])
    ctx = StageRun(name=name, opts=opts, dir=out, inputs=inputs, defaults=defaults, base_dir=Path("."))
    p = StagePlan(stage=name, dir=str(out), model=ctx.model if uses_model(name, opts) else None)
    plan_stage(p, ctx, _Counters(), None, out if (out / "manifest.json").is_file() else None)
    return [p]
