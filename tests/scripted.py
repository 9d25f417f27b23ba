"""The one scripted model backend of the test suite, used behind the real door.

Pure unit tests need a model whose answers they choose: to reach a parser's corner, inject a fault
(a ModelError, an answer cut at ``max_tokens``, a reply that breaks its schema) or count calls
exactly. :class:`ScriptedBackend` is a real :class:`~instructkit.llm.base.Backend` (the contract
the embedded llama.cpp and OpenAI backends implement), so the door in front of it is the real one:
cache, usage ledger, limiter, schema parsing and bad-answer retries all run as in production.
Open it with :func:`open_scripted`, the test's ``open_model``. Integration tests use the real
embedded model (``local_backend`` in conftest.py) or real servers instead.

Where an answer comes from, first match wins:

1. ``fail(kind, text)``: fault injection. True -> ``ModelError("scripted outage", kind="server")``;
   an exception instance -> raised as it is.
2. ``rules``: ``[(match, reply), ...]``; ``match`` is a substring of the request's text (all
   messages) or a predicate ``match(req)``; ``reply`` as below, or ``reply(req)`` returning one.
3. ``reply(req)``: a function answering any request (a rule with no condition).
4. ``replies``: a queue, one per call. Exhausted -> AssertionError (a test that expected fewer
   calls fails), unless ``repeat_last`` keeps playing the last one.

A reply is a text, ``(text, finish_reason)``, a :class:`Completion` (returned as it is) or an
exception (raised). Usage: ``usage=(prompt_tokens, completion_tokens)`` per call, or by default
a character estimate (4 per token). ``score(prompt, continuation)`` answers from
``logprobs(prompt, continuation) -> list[float]``; ``can_score=False`` declares a backend that
cannot (as the OpenAI chat endpoints), ``score_error`` makes every score call raise.

What it saw: ``calls`` (a Counter by ``kind(req)``, "chat" unless a classifier is given),
``requests`` (every ChatRequest), ``prompts`` ((kind, text) pairs), ``scored`` ((prompt,
continuation) pairs) and ``peak`` (most chat calls in flight at once).

>>> import asyncio
>>> llm = open_scripted(ScriptedBackend(['{"color": "red"}']))
>>> asyncio.run(llm.chat([{"role": "user", "content": "colour?"}], schema={"type": "object"})).parsed
{'color': 'red'}
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from instructkit.errors import ModelError
from instructkit.llm import LLM, ModelOptions
from instructkit.llm.base import Backend, BackendInfo, ChatRequest, Completion, Scored
from instructkit.llm.cache import ResponseCache
from instructkit.llm.usage import UsageLedger

Reply = Any  # str | (str, finish_reason) | Completion | BaseException | Callable[[ChatRequest], Reply]


class ScriptedBackend(Backend):
    """A backend that plays back scripted answers (see the module docstring)."""

    def __init__(self, replies: Iterable[Reply] = (), *, rules: Iterable[tuple[Any, Reply]] = (),
                 reply: Callable[[ChatRequest], Reply] | None = None, repeat_last: bool = False,
                 kind: Callable[[ChatRequest], str] | None = None,
                 fail: Callable[[str, str], bool | BaseException] | None = None,
                 usage: tuple[int, int] | None = None, spec: str = "scripted",
                 identity: dict[str, Any] | None = None, can_score: bool = True,
                 logprobs: Callable[[Any, str], list[float]] | None = None,
                 score_error: BaseException | None = None, delay: float = 0.0):
        self.info = BackendInfo(spec=spec, identity=identity or {"backend": "scripted", "spec": spec},
                                can_score=can_score)
        self.replies, self.rules, self.reply, self.repeat_last = list(replies), list(rules), reply, repeat_last
        self.classify, self.fail, self.usage, self.delay = kind, fail, usage, delay
        self.logprobs, self.score_error = logprobs, score_error
        self.calls: Counter = Counter()
        self.requests: list[ChatRequest] = []
        self.prompts: list[tuple[str, str]] = []
        self.scored: list[tuple[Any, str]] = []
        self.inflight = self.peak = 0

    @property
    def n_calls(self) -> int:
        """Chat calls that reached this backend (the door's cache hits never do)."""
        return sum(self.calls.values())

    async def chat(self, req: ChatRequest) -> Completion:
        kind = self.classify(req) if self.classify else "chat"
        text = "\n".join(c for _, c in req.messages)
        self.calls[kind] += 1
        self.requests.append(req)
        self.prompts.append((kind, text))
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            fault = self.fail(kind, text) if self.fail else None
            if isinstance(fault, BaseException):
                raise fault
            if fault:
                raise ModelError("scripted outage", kind="server")
            return self._completion(self._pick(req, text), req)
        finally:
            self.inflight -= 1

    def _pick(self, req: ChatRequest, text: str) -> Reply:
        for match, reply in self.rules:
            if (match(req) if callable(match) else match in text):
                return reply(req) if callable(reply) else reply
        if self.reply is not None:
            return self.reply(req)
        if not self.replies:
            raise AssertionError(f"scripted backend: no reply left for call {self.n_calls}")
        return self.replies[0] if self.repeat_last and len(self.replies) == 1 else self.replies.pop(0)

    def _completion(self, reply: Reply, req: ChatRequest) -> Completion:
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, Completion):
            return reply
        text, finish = reply if isinstance(reply, tuple) else (reply, "stop")
        prompt, completion = self.usage or (sum(len(c) for _, c in req.messages) // 4, len(text) // 4)
        return Completion(text=text, finish_reason=finish, prompt_tokens=prompt, completion_tokens=completion,
                          model=self.info.spec)

    async def score(self, prompt: Any, continuation: str) -> Scored:
        self.scored.append((prompt, continuation))
        if self.score_error is not None:
            raise self.score_error
        if self.logprobs is None:
            raise ModelError("this scripted backend has no logprobs", kind="unsupported")
        lps = list(self.logprobs(prompt, continuation))
        return Scored(tokens=[f"t{i}" for i in range(len(lps))], logprobs=lps, prompt_tokens=len(str(prompt)) // 4)


def open_scripted(backend: ScriptedBackend, cache: str | Path | ResponseCache | None = None,
                  ledger: UsageLedger | None = None, options: ModelOptions | None = None, **kw: Any) -> LLM:
    """The real door around ``backend``, as :func:`instructkit.llm.open_model` builds it for a spec."""
    if cache is not None and not isinstance(cache, ResponseCache):
        cache = ResponseCache(cache)
    return LLM(backend, cache=cache, ledger=ledger, options=options, **kw)
