"""``--max-cost USD`` / ``--max-tokens-total N`` on a single model-calling command.

The mechanism of ``instructkit run``: a :class:`~instructkit.llm.usage.Budget` behind a
:class:`~instructkit.llm.usage.CallMeter`, which the door checks before every call that is not a cache
hit; a call whose worst case (prompt estimate + ``max_tokens``) could pass the limit is refused
(``BudgetExceeded``), its item is left for the next run, and the run directory ends ``status: stopped``,
``stopped: budget`` (exit code 3). The budget covers the run directory's whole job: what the manifest
says its earlier runs spent counts, and cache hits are free, so re-running with a higher limit
continues where it stopped and redoes nothing.

A command opts in with one decorator, :func:`instructkit.cli.run.budgeted` (kept beside the
option types so ``instructkit --help`` imports nothing heavy), which opens :func:`command_budget`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from instructkit.llm.usage import Budget, BudgetExceeded, CallMeter, metering


def spent_before(out: str | Path) -> tuple[int, float]:
    """(tokens, USD) the run directory's earlier runs spent on model calls (cache hits excluded)."""
    try:
        m = json.loads((Path(out) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0, 0.0
    usage = m.get("usage_total") or m.get("usage") or {}
    return int(usage.get("total_tokens") or 0), float(usage.get("estimated_cost_usd") or 0.0)


def _budget_error(exc: BaseException | None) -> bool:
    """Was ``exc`` (or what caused it) a call the budget refused?"""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, BudgetExceeded) or getattr(exc, "kind", None) == "budget":
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def mark_stopped(out: str | Path, meter: CallMeter | None = None) -> bool:
    """Record ``status: stopped``, ``stopped: budget`` in ``out``'s manifest (and, for a run that
    ended on the refusal before it could account, the usage the meter saw, so the next run counts it)."""
    from instructkit.run_contract import merge_usage
    from instructkit.runs import atomic_write_json

    path = Path(out) / "manifest.json"
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True  # nothing was written before the first call was refused
    if m.get("status") == "complete":
        return False
    m["status"], m["stopped"] = "stopped", "budget"
    if meter is not None and meter.ledger.calls:
        m["usage"] = merge_usage(m.get("usage") or {}, meter.ledger.snapshot())
    atomic_write_json(path, m)
    return True


@contextmanager
def command_budget(out: str | Path, max_cost: float | None, max_tokens_total: int | None) -> Iterator[Budget]:
    """Meter every model call inside the block against the job budget of run directory ``out``.

    A refusal that ends the command (a step that cannot go on without its calls) or leaves items
    undone ends it as ``stopped: budget`` with exit code 3; re-run with a higher limit to continue."""
    import typer

    tokens, cost = spent_before(out)
    budget = Budget(max_cost=max_cost, max_tokens_total=max_tokens_total, spent_tokens=tokens, spent_cost=cost)
    meter = CallMeter(budget)
    try:
        with metering(meter):
            yield budget
    except typer.Exit as e:  # the command's own exit code for its status
        if budget.exhausted and e.exit_code not in (0, 130):
            mark_stopped(out)
            raise typer.Exit(3) from None
        raise
    except Exception as e:  # noqa: BLE001 - only a refusal by the budget is turned into a clean stop
        if not (budget.exhausted and _budget_error(e)):
            raise
        mark_stopped(out, meter)
        typer.echo(f"stopped: {e}; re-run with a higher budget to continue (calls made so far are cached)",
                   err=True)
        raise typer.Exit(3) from None
    if budget.exhausted and mark_stopped(out):
        typer.echo(f"stopped at the budget ({_limits(budget)}); re-run with a higher budget to continue",
                   err=True)
        raise typer.Exit(3)


def _limits(b: Budget) -> str:
    return ", ".join(x for x in (f"--max-cost {b.max_cost}" if b.max_cost is not None else "",
                                 f"--max-tokens-total {b.max_tokens_total}" if b.max_tokens_total is not None
                                 else "") if x)
