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
