"""Usage ledger: calls, tokens, cache hits, failures and estimated cost of a run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from instructkit.errors import ModelError

# USD per 1M tokens (prompt, completion). Public list prices; edit or extend as they change.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1": (2.00, 8.00),
}


# Batch API prices (price key ``batch:MODEL``) where they differ from BATCH_DISCOUNT x the list price.
BATCH_PRICES: dict[str, tuple[float, float]] = {}
BATCH_DISCOUNT = 0.5  # the Batch API's published discount: half the list price


def price_for(model_name: str | None) -> tuple[float, float] | None:
    """USD per 1M (prompt, completion) tokens for a price key; ``batch:MODEL`` is the batch rate.

    >>> price_for("gpt-4o-mini"), price_for("batch:gpt-4o-mini-2024-07-18")
    ((0.15, 0.6), (0.075, 0.3))
    """
    if not model_name:
        return None
    if model_name.startswith("batch:"):
        name = model_name[len("batch:"):]
        if name in BATCH_PRICES:
            return BATCH_PRICES[name]
        listed = price_for(name)
        return (listed[0] * BATCH_DISCOUNT, listed[1] * BATCH_DISCOUNT) if listed else None
    if model_name in PRICES:
        return PRICES[model_name]
    # dated snapshots (gpt-4o-mini-2024-07-18) share their family's price; longest prefix wins
    best = max((k for k in PRICES if model_name.startswith(k + "-")), key=len, default=None)
    return PRICES[best] if best else None


@dataclass
class UsageLedger:
    """Counts for one run. ``snapshot()`` is what goes in the manifest."""

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    score_calls: int = 0
    failures: Counter = field(default_factory=Counter)
    retries: Counter = field(default_factory=Counter)  # attempts that failed and were retried, by kind
    per_model: dict[str, dict[str, int]] = field(default_factory=dict)
    price_keys: dict[str, str | None] = field(default_factory=dict)

    def record_call(self, model: str, prompt_tokens: int, completion_tokens: int, cached: bool,
                    price_key: str | None = None) -> None:
        m = self.per_model.setdefault(model, {"calls": 0, "cache_hits": 0, "prompt_tokens": 0,
                                              "completion_tokens": 0})
        self.price_keys.setdefault(model, price_key)
        if cached:
            self.cache_hits += 1
            self.cached_prompt_tokens += prompt_tokens
            self.cached_completion_tokens += completion_tokens
            m["cache_hits"] += 1
            return
        self.calls += 1
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        m["calls"] += 1
        m["prompt_tokens"] += prompt_tokens
        m["completion_tokens"] += completion_tokens

    def record_failure(self, kind: str) -> None:
        self.failures[kind] += 1

    def record_retry(self, kind: str) -> None:
        self.retries[kind] += 1

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def cost_usd(self) -> float | None:
        """Estimated cost of the calls made (not cache hits); None when no model has a price."""
        total, priced = 0.0, False
        for model, m in self.per_model.items():
            price = price_for(self.price_keys.get(model))
            if price is None:
                continue
            priced = True
            total += m["prompt_tokens"] / 1e6 * price[0] + m["completion_tokens"] / 1e6 * price[1]
        return round(total, 6) if priced else None

    def merge(self, other: dict[str, Any]) -> None:
        """Add a previous run's snapshot (so a resumed run reports the whole job's usage)."""
        for k in ("calls", "cache_hits", "prompt_tokens", "completion_tokens",
                  "cached_prompt_tokens", "cached_completion_tokens", "score_calls"):
            setattr(self, k, getattr(self, k) + int(other.get(k, 0)))
        self.failures.update(other.get("failures", {}))
        self.retries.update(other.get("retries", {}))

    def snapshot(self) -> dict[str, Any]:
        return {"calls": self.calls, "cache_hits": self.cache_hits, "score_calls": self.score_calls,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens, "cached_prompt_tokens": self.cached_prompt_tokens,
                "cached_completion_tokens": self.cached_completion_tokens,
                "failures": dict(self.failures), "retries": dict(self.retries), "per_model": self.per_model,
                "estimated_cost_usd": self.cost_usd()}


# The ledger of the call in progress: the door sets it around each backend call, so a backend can
# report its retries without knowing which ledger (or whether any) is listening.
_ACTIVE: ContextVar[UsageLedger | None] = ContextVar("instructkit_active_ledger", default=None)


@contextmanager
def active_ledger(ledger: UsageLedger | None) -> Iterator[None]:
    token = _ACTIVE.set(ledger)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def note_retry(kind: str) -> None:
    """Count a retried attempt in the ledger of the current call (no-op outside the door)."""
    ledger = _ACTIVE.get()
    if ledger is not None:
        ledger.record_retry(kind)


# -- a meter for a whole job (a recipe, a command run): what every door saw, and its budget -----------------
@dataclass
class Budget:
    """Spending limits for a whole job, checked by the door before each model call that is not a cache hit.

    A call is refused (:class:`BudgetExceeded`, a ModelError: the item is left for the next run) when
    what was spent, plus what calls in flight may still spend, plus this call's worst case (its prompt
    estimate + ``max_tokens``) would pass a limit. ``spent_*`` start from earlier runs of the same job.
    """

    max_cost: float | None = None
    max_tokens_total: int | None = None
    max_calls: int | None = None             # a hard cap on model calls (``--max-calls``)
    spent_calls: int = 0
    reserved_calls: int = 0
    spent_tokens: int = 0
    spent_cost: float = 0.0
    reserved_tokens: int = 0
    reserved_cost: float = 0.0
    exhausted: bool = False

    def _worst(self, price_key: str | None, prompt: int, completion: int) -> tuple[int, float]:
        price = price_for(price_key)
        cost = (prompt * price[0] + completion * price[1]) / 1e6 if price else 0.0
        return prompt + completion, cost

    def reserve(self, price_key: str | None, prompt: int, completion: int) -> tuple[int, float]:
        tokens, cost = self._worst(price_key, prompt, completion)
        over_tokens = (self.max_tokens_total is not None
                       and self.spent_tokens + self.reserved_tokens + tokens > self.max_tokens_total)
        over_cost = self.max_cost is not None and self.spent_cost + self.reserved_cost + cost > self.max_cost
        over_calls = self.max_calls is not None and self.spent_calls + self.reserved_calls + 1 > self.max_calls
        if over_tokens or over_cost or over_calls:
            self.exhausted = True
            raise BudgetExceeded("budget reached: " + (f"--max-tokens-total {self.max_tokens_total}" if over_tokens
                                                       else f"--max-cost {self.max_cost}" if over_cost
                                                       else f"--max-calls {self.max_calls}"), kind="budget")
        self.reserved_calls += 1
        self.reserved_tokens += tokens
        self.reserved_cost += cost
        return tokens, cost

    def release(self, hold: tuple[int, float]) -> None:
        self.reserved_calls -= 1
        self.reserved_tokens -= hold[0]
        self.reserved_cost -= hold[1]

    def spend(self, price_key: str | None, prompt: int, completion: int) -> None:
        tokens, cost = self._worst(price_key, prompt, completion)
        self.spent_calls += 1
        self.spent_tokens += tokens
        self.spent_cost += cost


class BudgetExceeded(ModelError):
    """A call refused by the job's :class:`Budget` (kind ``budget``); re-run with a higher budget."""


class CallMeter:
    """What every door opened inside :func:`metering` saw (calls, hits, tokens) and its budget.

    Meters nest: a meter opened inside another (a ``--target`` loop inside a recipe stage) passes every
    check and observation on to the outer one, so both budgets hold and both ledgers count."""

    def __init__(self, budget: Budget | None = None, parent: "CallMeter | None" = None):
        self.ledger = UsageLedger()
        self.budget = budget
        self.parent = parent

    def reserve(self, price_key: str | None, prompt_chars: int, max_tokens: int) -> list:
        holds: list = []
        meter: CallMeter | None = self
        try:
            while meter is not None:
                if meter.budget is not None:
                    holds.append((meter.budget, meter.budget.reserve(
                        price_key, reserved_prompt_tokens(prompt_chars), max_tokens)))
                meter = meter.parent
        except BudgetExceeded:
            self.release(holds)
            raise
        return holds

    def release(self, holds: list | None) -> None:
        for budget, hold in holds or ():
            budget.release(hold)

    def observe(self, model: str, prompt: int, completion: int, cached: bool, price_key: str | None) -> None:
        self.ledger.record_call(model, prompt, completion, cached, price_key)
        if not cached and self.budget is not None:
            self.budget.spend(price_key, prompt, completion)
        if self.parent is not None:
            self.parent.observe(model, prompt, completion, cached, price_key)


CHARS_PER_TOKEN = 4  # the documented estimate where no tokenizer is at hand (English text, BPE vocabularies)


def estimate_tokens_from_chars(chars: int) -> int:
    return (int(chars) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


# A budget reserves a prompt's worst case, not its typical size: digits, code and short words run
# nearer 3 characters a token than 4, and the chat template adds markup and, for some models, a
# default system prompt (SmolLM2's is ~30 tokens) that the messages' characters do not show.
RESERVE_CHARS_PER_TOKEN = 3
RESERVE_TEMPLATE_TOKENS = 48


def reserved_prompt_tokens(chars: int) -> int:
    """Prompt tokens a budget holds for a call of ``chars`` message characters (an overestimate)."""
    return (int(chars) + RESERVE_CHARS_PER_TOKEN - 1) // RESERVE_CHARS_PER_TOKEN + RESERVE_TEMPLATE_TOKENS


_METER: ContextVar[CallMeter | None] = ContextVar("instructkit_call_meter", default=None)


@contextmanager
def metering(meter: CallMeter) -> Iterator[CallMeter]:
    """Doors opened and used inside this block report to ``meter`` (and respect its budget); a meter
    already active becomes its parent."""
    if meter.parent is None and _METER.get() is not meter:
        meter.parent = _METER.get()
    token = _METER.set(meter)
    try:
        yield meter
    finally:
        _METER.reset(token)


def current_meter() -> CallMeter | None:
    return _METER.get()
