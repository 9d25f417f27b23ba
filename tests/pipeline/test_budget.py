"""The job budget the door checks before each call that is not a cache hit."""

from __future__ import annotations

import asyncio

import pytest

from instructkit.errors import ModelError
from instructkit.llm.usage import Budget, BudgetExceeded, CallMeter, metering


def test_budget_refuses_a_call_whose_worst_case_passes_the_token_limit():
    b = Budget(max_tokens_total=1000)
    hold = b.reserve(None, 300, 200)          # worst case 500: fits
    b.release(hold)
    b.spend(None, 300, 150)                   # what it really used: 450
    assert b.spent_tokens == 450 and not b.exhausted
    with pytest.raises(BudgetExceeded) as e:  # 450 + 400 + 200 > 1000
        b.reserve(None, 400, 200)
    assert isinstance(e.value, ModelError) and e.value.kind == "budget" and b.exhausted
    assert b.reserve(None, 300, 200) == (500, 0.0)  # a smaller call still fits: the limit, not a latch


def test_calls_in_flight_count_against_the_budget():
    b = Budget(max_tokens_total=1000)
    b.reserve(None, 300, 300)
    with pytest.raises(BudgetExceeded):
        b.reserve(None, 300, 300)             # 600 in flight + 600 > 1000


def test_cost_limit_uses_the_price_table():
    b = Budget(max_cost=0.001)                # gpt-4o-mini: $0.15 / $0.60 per 1M tokens
    b.reserve("gpt-4o-mini", 2000, 1000)      # $0.0009
    with pytest.raises(BudgetExceeded, match="--max-cost"):
        b.reserve("gpt-4o-mini", 400, 200)    # + $0.00018 > $0.001
    free = Budget(max_cost=0.0)
    assert free.reserve(None, 10**6, 10**6) == (2 * 10**6, 0.0)  # an unpriced (local) model costs nothing


def test_door_checks_the_meter_before_calling(local_llm):
    meter = CallMeter(Budget(max_tokens_total=40))
    msgs = [{"role": "user", "content": "Say hi."}]

    async def go():
        return await local_llm.chat(msgs, max_tokens=64)

    with metering(meter):
        with pytest.raises(BudgetExceeded):
            asyncio.run(go())
    assert meter.ledger.calls == 0 and local_llm.ledger.failures["budget"] == 1
    assert len(local_llm.cache) == 0
    meter = CallMeter(Budget(max_tokens_total=10_000))
    with metering(meter):
        asyncio.run(go())
        asyncio.run(go())  # a cache hit is free and always allowed
    assert meter.ledger.calls == 1 and meter.ledger.cache_hits == 1
    assert meter.budget.spent_tokens == meter.ledger.total_tokens > 0


# -- the same budget on a single command (instructkit.cli.run.budgeted) ------------------------------
def _command_with_a_run_dir(cost_tokens: int):
    """A stand-in for a command body: a run directory, then a call of ``cost_tokens`` worst case."""
    import json as _json

    from instructkit.llm.usage import RESERVE_CHARS_PER_TOKEN, RESERVE_TEMPLATE_TOKENS, current_meter

    chars = RESERVE_CHARS_PER_TOKEN * (cost_tokens - RESERVE_TEMPLATE_TOKENS)  # reserves cost_tokens

    def command(*, out, max_cost=None, max_tokens_total=None):
        (out / "manifest.json").write_text(_json.dumps({**_json.loads((out / "manifest.json").read_text()),
                                                         "status": "running"}))
        meter = current_meter()
        if meter is not None:
            meter.release(meter.reserve(None, chars, 0))
        return "done"

    return command


def _manifest(out, usage_tokens: int) -> None:
    import json as _json

    out.mkdir(exist_ok=True)
    (out / "manifest.json").write_text(_json.dumps({"command": "x", "status": "stopped",
                                                    "usage": {"total_tokens": usage_tokens}}))


def test_a_command_budget_counts_earlier_runs_and_stops_cleanly(tmp_path):
    import json as _json

    import typer

    from instructkit.cli.run import budgeted

    out = tmp_path / "run"
    _manifest(out, 900)  # an earlier run spent 900 tokens
    cmd = budgeted(_command_with_a_run_dir(200))
    assert cmd(out=out, max_tokens_total=1200) == "done"  # 900 + 200 fits
    with pytest.raises(typer.Exit) as e:
        cmd(out=out, max_tokens_total=1000)  # 900 + 200 does not: refused before the call
    assert e.value.exit_code == 3
    m = _json.loads((out / "manifest.json").read_text())
    assert m["status"] == "stopped" and m["stopped"] == "budget"
    assert cmd(out=out) == "done"  # no limit: the command runs untouched (no meter)


def test_a_command_budget_leaves_a_dry_run_alone(tmp_path):
    from instructkit.cli.run import budgeted

    seen = []

    def command(*, out, max_cost=None, max_tokens_total=None, dry_run=False):
        from instructkit.llm.usage import current_meter

        seen.append(current_meter())

    budgeted(command)(out=tmp_path, max_tokens_total=1, dry_run=True)
    budgeted(command)(out=tmp_path, max_tokens_total=1)
    assert seen[0] is None and seen[1] is not None and seen[1].budget.max_tokens_total == 1
