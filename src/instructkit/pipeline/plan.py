"""``--dry-run``: per stage the planned model calls, prompt and completion tokens, and cost; no call made.

Prompt tokens: rendered prompts counted by :class:`~instructkit.pipeline.tokens.TokenCounter` where the
prompt is known before the run (Dynosaur's task-design prompts, the examples a judge or eval reads);
GLAN's later prompts depend on earlier answers, so they are estimated from the template sizes plus
the expected size of what they quote. Completion tokens: ``max_tokens`` of each call (an upper
bound), or the mean of the answers already in the stage's cache once a run has data. Records flowing
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
    completion_tokens: int = 0
    completion_from: str = ""              # max_tokens | observed mean
    prompt_from: str = ""                  # tokenizer | chars/4 | estimate
    records_out: int | None = None
    model: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def cost_usd(self) -> float | None:
        from instructkit.llm import parse_spec

        if not self.model:
            return None
        price = price_for(parse_spec(self.model)[1])
        if price is None:
            return None
        return round((self.prompt_tokens * price[0] + self.completion_tokens * price[1]) / 1e6, 6)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "cost_usd": self.cost_usd}


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
    if existing is not None and p.calls:
        mean = observed_completion_mean(existing)
        if mean is not None:
            p.completion_tokens = round(mean * p.calls)
            p.completion_from = "observed mean"


def _count_lines(path: Path) -> int | None:
    if path.is_file() and path.suffix == ".jsonl":
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    return None


def plan_totals(plans: list[StagePlan]) -> dict[str, Any]:
    costs = [p.cost_usd for p in plans if p.cost_usd is not None]
    return {"calls": sum(p.calls for p in plans), "prompt_tokens": sum(p.prompt_tokens for p in plans),
            "completion_tokens": sum(p.completion_tokens for p in plans),
            "cost_usd": round(sum(costs), 6) if costs else None}


def format_plan(plans: list[StagePlan]) -> str:
    """The plan as a table; the last line says nothing was called or written."""
    rows = [f"{'stage':<22} {'status':<7} {'calls':>6} {'prompt tok':>11} {'compl. tok':>11} {'cost':>10}  how"]
    for p in plans:
        cost = "n/a" if p.cost_usd is None else f"${p.cost_usd:.4f}"
        how = ", ".join(x for x in (f"prompt: {p.prompt_from}" if p.prompt_from else "",
                                    f"completion: {p.completion_from}" if p.completion_from else "",
                                    *p.notes) if x)
        rows.append(f"{p.dir:<22} {p.status:<7} {p.calls:>6} {p.prompt_tokens:>11,} {p.completion_tokens:>11,} "
                    f"{cost:>10}  {how}")
    t = plan_totals(plans)
    cost = "n/a (no priced model)" if t["cost_usd"] is None else f"${t['cost_usd']:.4f}"
    rows.append(f"total: {t['calls']} model calls, {t['prompt_tokens']:,} prompt + {t['completion_tokens']:,} "
                f"completion tokens, estimated cost {cost}")
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
