"""Types shared by every model backend, and the backend contract.

A backend knows how to talk to one kind of model; the door (:class:`instructkit.llm.LLM`) adds
caching, the usage ledger, bounded concurrency and JSON parsing on top, the same for all.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, str]

# (cache key, response cache) of the door's call in progress: a backend that collects requests into
# provider batch jobs names each request by its cache key and keeps its batch records beside the cache
CURRENT_CALL: ContextVar[tuple[str, Any] | None] = ContextVar("instructkit_current_call", default=None)


def continuation_start(prompt_ids: list[int], full_ids: list[int]) -> int:
    """Index in ``full_ids`` (prompt + continuation tokenized together) where the continuation starts.

    It is where the two tokenizations stop agreeing (a merge can cross the boundary), and never 0:
    the first token has no context to be predicted from.
    """
    cut = 0
    while cut < min(len(prompt_ids), len(full_ids)) and prompt_ids[cut] == full_ids[cut]:
        cut += 1
    return max(cut, 1)


def fit_context(full_ids: list[int], cut: int, n_ctx: int) -> tuple[list[int], int]:
    """``(full_ids, cut)`` trimmed from the left to fit ``n_ctx`` tokens, the continuation kept whole.

    Raises :class:`~instructkit.errors.ModelError` (``bad_request``) when the continuation alone
    leaves no room for a token of context.

    >>> fit_context([1, 2, 3, 4, 5], 3, 4)
    ([2, 3, 4, 5], 2)
    """
    if len(full_ids) <= n_ctx:
        return full_ids, cut
    n_cont = len(full_ids) - cut
    if n_cont >= n_ctx:
        from instructkit.errors import ModelError

        raise ModelError(f"continuation of {n_cont} tokens exceeds the context ({n_ctx})", kind="bad_request")
    drop = len(full_ids) - n_ctx
    return full_ids[drop:], cut - drop


def continuation_logprobs(logits: Any, cont_ids: list[int]) -> list[float]:
    """Log-probability of each continuation token: log-softmax of ``logits`` (a numpy array of
    shape ``(len(cont_ids), vocab)``, row i predicting ``cont_ids[i]``) at that token, in float64.

    A token the model rules out entirely (-inf, or nan) gets -1e9, which JSON can carry.

    >>> [round(x, 4) for x in continuation_logprobs([[0.0, 0.0], [0.0, float("-inf")]], [1, 0])]
    [-0.6931, 0.0]
    """
    import numpy as np

    rows = np.asarray(logits, dtype=np.float64)
    mx = rows.max(axis=1, keepdims=True)  # subtracted before exp: no overflow
    logz = mx[:, 0] + np.log(np.exp(rows - mx).sum(axis=1))
    lps = rows[np.arange(len(cont_ids)), cont_ids] - logz
    return [float(x) if math.isfinite(x) else -1e9 for x in lps]


@dataclass(frozen=True)
class ChatRequest:
    """Everything that determines a model's answer (and so the cache key)."""

    messages: tuple[tuple[str, str], ...]  # (role, content) pairs: hashable and canonical
    schema: dict[str, Any] | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int = 0
    stop: tuple[str, ...] = ()
    logprobs: int = 0  # number of top alternatives per generated token (0 = none)

    def message_dicts(self) -> list[Message]:
        return [{"role": r, "content": c} for r, c in self.messages]

    def key_fields(self) -> dict[str, Any]:
        return {"messages": self.messages, "schema": self.schema, "temperature": self.temperature,
                "top_p": self.top_p, "max_tokens": self.max_tokens, "seed": self.seed,
                "stop": self.stop, "logprobs": self.logprobs}


@dataclass
class Completion:
    """A model's answer. ``parsed`` is set when a schema was asked for and the text validated."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""
    # one dict per generated token: {token_text: logprob} of the top alternatives (when asked)
    top_logprobs: list[dict[str, float]] | None = None
    cached: bool = False
    model: str = ""
    parsed: Any = None
    parse_error: str | None = None

    def to_cache(self) -> dict[str, Any]:
        return {"text": self.text, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "finish_reason": self.finish_reason,
                "top_logprobs": self.top_logprobs, "model": self.model}

    @classmethod
    def from_cache(cls, d: dict[str, Any]) -> "Completion":
        return cls(text=d["text"], prompt_tokens=d.get("prompt_tokens", 0),
                   completion_tokens=d.get("completion_tokens", 0),
                   finish_reason=d.get("finish_reason", ""), top_logprobs=d.get("top_logprobs"),
                   model=d.get("model", ""), cached=True)


@dataclass
class Scored:
    """Per-token log-probabilities of a continuation given a prompt."""

    tokens: list[str]
    logprobs: list[float]
    prompt_tokens: int = 0
    cached: bool = False

    @property
    def mean_logprob(self) -> float:
        return sum(self.logprobs) / len(self.logprobs) if self.logprobs else 0.0

    @property
    def total_logprob(self) -> float:
        return float(sum(self.logprobs))


@dataclass
class BackendInfo:
    """What a backend is, for cache keys and manifests (never holds secrets)."""

    spec: str
    identity: dict[str, Any] = field(default_factory=dict)
    max_concurrency: int = 1
    can_score: bool = True
    price_key: str | None = None  # entry in the price table, when one applies


class Backend(ABC):
    info: BackendInfo

    @abstractmethod
    async def chat(self, req: ChatRequest) -> Completion:
        """Answer one chat request. Raise ModelError on failure (after the backend's own retries)."""

    @abstractmethod
    async def score(self, prompt: str | list[Message], continuation: str) -> Scored:
        """Token logprobs of ``continuation`` after ``prompt`` (messages: as the assistant's reply)."""

    async def aclose(self) -> None:  # pragma: no cover - optional
        return None
