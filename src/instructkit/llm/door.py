"""The door itself: :class:`LLM` (cache, ledger, limiter, schema parsing over a backend),
:func:`open_model` (the one place a model is opened), :class:`ModelOptions` (how it is called,
carried as data: to Ray workers too, never through ``os.environ``) and the :class:`Limiter`s
that bound how many calls are in flight (a local semaphore, or the cluster-wide Ray gate).

>>> ModelOptions(timeout=30).max_retries is None
True
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from instructkit.errors import ModelError, UserError
from instructkit.llm.base import CURRENT_CALL, Backend, ChatRequest, Completion, Message, Scored
from instructkit.llm.cache import ResponseCache, any_max_tokens_key, cache_key
from instructkit.llm.jsonutil import parse_structured
from instructkit.llm.usage import UsageLedger, active_ledger, current_meter
from instructkit.records import stable_hash

T = TypeVar("T")


@dataclass(frozen=True)
class ModelOptions:
    """How a model is called (never what it answers, so none of this is in a cache key).

    ``concurrency``: most calls in flight from this door (the Ray gate holds a cluster-wide one).
    ``timeout`` / ``max_retries``: per attempt and after the first attempt, for ``openai:`` models;
    None = ``INSTRUCTKIT_OPENAI_TIMEOUT`` / ``_MAX_RETRIES`` or 120 s and 5 (the CLI resolves them
    once, so what reaches a backend is a number). ``bad_answer_retries``: how often an HTTP-200
    answer that fails its schema is asked again before it is returned with ``parse_error``.
    """

    concurrency: int = 8
    timeout: float | None = None
    max_retries: int | None = None
    bad_answer_retries: int = 2

    def replace(self, **changes: Any) -> "ModelOptions":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


class Limiter(Protocol):
    """Bounds the calls in flight. ``slot(key)`` yields True when the caller should make the call,
    False when another caller just answered ``key`` (the caller re-reads the cache)."""

    def slot(self, key: str) -> Any: ...


class SemaphoreLimiter:
    """At most ``n`` calls at once in this process (one semaphore per event loop)."""

    def __init__(self, n: int = 8):
        self.n = max(1, int(n))
        self._sem: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[bool]:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._loop is not loop:
            self._sem, self._loop = asyncio.Semaphore(self.n), loop
        async with self._sem:
            yield True


def parse_spec(spec: str) -> tuple[str, str, str | None]:
    """Split a model spec into (kind, model, base_url). Raises UserError on a malformed spec.

    >>> parse_spec("openai:qwen@http://127.0.0.1:8000/v1")
    ('openai', 'qwen', 'http://127.0.0.1:8000/v1')
    >>> parse_spec("local")
    ('local', '', None)
    >>> parse_spec("openai-batch:gpt-4o-mini")
    ('openai-batch', 'gpt-4o-mini', None)
    """
    from instructkit.redact import redact

    spec = (spec or "").strip()
    if spec in ("local", "default", ""):
        return "local", "", None
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in ("local", "openai", "openai-batch", "hf"):
        raise UserError(f"model spec '{redact(spec)}' not understood; use local, local:/path.gguf, "
                        "openai:MODEL, openai:MODEL@http://host:port/v1, openai-batch:MODEL or hf:PATH")
    if kind in ("openai", "openai-batch"):
        model, at, url = rest.partition("@")
        if not model:
            raise UserError(f"model spec '{redact(spec)}': missing model name after '{kind}:'")
        if at and not url.startswith(("http://", "https://")):
            raise UserError(f"model spec '{redact(spec)}': the part after '@' must be an http(s) URL")
        return kind, model, (url or None)
    if not rest:
        raise UserError(f"model spec '{spec}': missing path after '{kind}:'")
    return kind, rest, None


def make_backend(spec: str, **options: Any) -> Backend:
    """Construct the backend for ``spec`` (heavy libraries are imported here, not at import time)."""
    kind, model, base_url = parse_spec(spec)
    options = {k: v for k, v in options.items() if v is not None}
    if kind == "local":
        from instructkit.llm.local import LocalBackend

        return LocalBackend(model or None, **{k: v for k, v in options.items()
                                              if k in ("n_ctx", "n_threads")})
    if kind == "openai":
        from instructkit.llm.openai import OpenAIBackend

        return OpenAIBackend(model, base_url=base_url, **{k: v for k, v in options.items()
                                                         if k in ("timeout", "max_retries", "api_key")})
    if kind == "openai-batch":
        from instructkit.llm.batch import BatchBackend

        return BatchBackend(model, base_url=base_url, **{k: v for k, v in options.items()
                                                        if k in ("timeout", "max_retries", "api_key")})
    if kind == "hf":
        try:
            from instructkit.llm.hf import HFBackend
        except ImportError:
            raise UserError("the hf: backend is not available in this install") from None
        return HFBackend(model, **{k: v for k, v in options.items() if k not in ("timeout", "max_retries")})
    raise UserError(f"unknown model kind '{kind}'")  # pragma: no cover


class LLM:
    """A backend behind the cache, ledger and limiter. All methods use this class."""

    def __init__(self, backend: Backend, cache: ResponseCache | None = None,
                 ledger: UsageLedger | None = None, concurrency: int | None = None, *,
                 options: ModelOptions | None = None, limiter: Limiter | None = None):
        self.backend = backend
        self.cache = cache
        self.ledger = ledger or UsageLedger()
        self.options = (options or ModelOptions()).replace(concurrency=concurrency)
        # a backend that collects requests into provider batch jobs needs them all at once, not n at a time
        collects = getattr(backend, "collects_requests", False)
        self.limiter: Limiter = limiter or SemaphoreLimiter(1 << 20 if collects else self.options.concurrency)

    @property
    def spec(self) -> str:
        return self.backend.info.spec

    @property
    def concurrency(self) -> int:
        return self.options.concurrency

    async def chat(self, messages: list[Message], *, schema: dict[str, Any] | None = None,
                   temperature: float = 0.0, top_p: float = 1.0, max_tokens: int = 512,
                   seed: int | None = None, sample: int = 0, stop: Iterable[str] | None = None,
                   logprobs: int = 0, template: str = "") -> Completion:
        """One chat completion, served from the cache when the same request was answered before.

        ``sample`` distinguishes repeated samples of the same prompt (with temperature > 0, ten
        samples are ten cache entries with ten derived seeds). ``template`` names the prompt
        template version, so changing a template changes the cache key. When ``schema`` is
        given the answer is parsed and validated: ``parsed`` holds the value or ``parse_error``
        says why not. An answer that fails its schema is asked again (``bad_answer_retries``,
        counted as ``retries.bad_answer``) and, still bad, returned but never cached: a proxy's
        garbage must not be replayed forever. An answer cut at ``max_tokens`` is the model's own
        (asking again gives the same), so it is cached as it is.
        """
        base_seed = 0 if seed is None else int(seed)
        eff_seed = base_seed if sample == 0 else int(stable_hash("seed", base_seed, sample, length=8), 16) & 0x7FFFFFFF
        req = ChatRequest(messages=tuple((m["role"], m["content"]) for m in messages), schema=schema,
                          temperature=float(temperature), top_p=float(top_p), max_tokens=int(max_tokens),
                          seed=eff_seed, stop=tuple(stop or ()), logprobs=int(logprobs))
        key = cache_key(self.backend.info.identity, "chat", req.key_fields(), template)

        def usable(comp: Completion) -> bool:  # parses the answer in place
            comp.parsed, comp.parse_error = parse_structured(comp.text, schema)
            return comp.parse_error is None or comp.finish_reason == "length"

        alias = any_max_tokens_key(self.backend.info.identity, req.key_fields(), template)
        comp = await self._cached_call(key, lambda: self.backend.chat(req), Completion.from_cache,
                                       check=usable if schema is not None else None,
                                       estimate=(sum(len(m["content"]) for m in messages), req.max_tokens),
                                       reuse=(alias, req.max_tokens))
        if comp.parse_error:
            self.ledger.record_failure("bad_json")
        return comp

    async def score(self, prompt: str | list[Message], continuation: str, template: str = "") -> Scored:
        """Per-token logprobs of ``continuation`` after ``prompt``; cached like chat answers."""
        fields = {"prompt": prompt if isinstance(prompt, str) else [(m["role"], m["content"]) for m in prompt],
                  "continuation": continuation}
        key = cache_key(self.backend.info.identity, "score", fields, template)

        def from_cache(d: dict[str, Any]) -> Scored:
            return Scored(tokens=d["tokens"], logprobs=d["logprobs"], prompt_tokens=d.get("prompt_tokens", 0), cached=True)

        self.ledger.score_calls += 1
        chars = len(prompt) if isinstance(prompt, str) else sum(len(m["content"]) for m in prompt)
        return await self._cached_call(key, lambda: self.backend.score(prompt, continuation), from_cache,
                                       estimate=(chars + len(continuation), 0))

    def _from_cache(self, key: str, from_cache: Callable[[dict[str, Any]], Any],
                    check: Callable[[Any], bool] | None = None, reuse: tuple[str, int] | None = None) -> Any:
        """The cached answer for ``key`` (recorded as a cache hit), or None. A cached answer that
        fails ``check`` (written by an older version) is a miss: it is asked again. ``reuse``: (alias
        key, max_tokens) of a chat request, so that an answer that finished on its own
        (``finish_reason=stop``) under a smaller max_tokens serves a larger one."""
        if self.cache is None:
            return None
        hit = self.cache.get(key)
        if hit is None and reuse is not None:
            hit = self.cache.reusable_answer(*reuse)
        if hit is None:
            return None
        out = from_cache(hit)
        if check is not None and not check(out):
            return None
        self._record(out, cached=True)
        return out

    async def _cached_call(self, key: str, call: Callable[[], Awaitable[Any]],
                           from_cache: Callable[[dict[str, Any]], Any],
                           check: Callable[[Any], bool] | None = None, estimate: tuple[int, int] = (0, 0),
                           reuse: tuple[str, int] | None = None) -> Any:
        """``estimate``: (prompt characters, most completion tokens), for a job's budget check."""
        while True:
            out = self._from_cache(key, from_cache, check, reuse)
            if out is not None:
                return out
            async with self.limiter.slot(key) as go:
                if not go:
                    continue  # another caller answered this key while we waited: the cache has it
                out = self._from_cache(key, from_cache, check, reuse)  # it may have landed since we looked
                if out is not None:
                    return out
                return await self._call(key, call, check, estimate, reuse)

    async def _call(self, key: str, call: Callable[[], Awaitable[Any]], check: Callable[[Any], bool] | None,
                    estimate: tuple[int, int] = (0, 0), reuse: tuple[str, int] | None = None) -> Any:
        """The backend's answer, asked again while it fails ``check``; cached only when it passes.
        A job's budget meter (if any) refuses (BudgetExceeded) before a call that could pass it."""
        retries = self.options.bad_answer_retries if check is not None else 0
        meter = current_meter()
        for attempt in range(retries + 1):
            hold = None
            try:
                if meter is not None:  # refuses (BudgetExceeded) before a call that could pass the budget
                    hold = meter.reserve(self.backend.info.price_key, *estimate)
                token = CURRENT_CALL.set((key, self.cache))  # a batch backend names the request by it
                try:
                    with active_ledger(self.ledger):  # lets the backend count its retries here
                        out = await call()
                finally:
                    CURRENT_CALL.reset(token)
            except ModelError as e:
                self.ledger.record_failure(e.kind)
                raise
            finally:
                if meter is not None:
                    meter.release(hold)
            self._record(out, cached=False)
            if check is None or check(out):
                if self.cache is not None:
                    self.cache.put(key, out.to_cache() if isinstance(out, Completion) else
                                   {"tokens": out.tokens, "logprobs": out.logprobs,
                                    "prompt_tokens": out.prompt_tokens})
                    if reuse is not None and isinstance(out, Completion) and out.finish_reason == "stop":
                        self.cache.remember_finished(reuse[0], key, reuse[1])
                return out
            if attempt < retries:
                self.ledger.record_retry("bad_answer")
        return out

    def _record(self, out: Completion | Scored, cached: bool) -> None:
        if isinstance(out, Completion):
            prompt, completion = out.prompt_tokens, out.completion_tokens
        else:
            prompt, completion = out.prompt_tokens + len(out.tokens), 0
        self.ledger.record_call(self.spec, prompt, completion, cached, self.backend.info.price_key)
        meter = current_meter()
        if meter is not None:
            meter.observe(self.spec, prompt, completion, cached, self.backend.info.price_key)

    async def aclose(self) -> None:
        await self.backend.aclose()


def open_model(spec: str = "local", cache: str | Path | ResponseCache | None = None,
               ledger: UsageLedger | None = None, options: ModelOptions | None = None,
               limiter: Limiter | None = None, *, concurrency: int | None = None,
               timeout: float | None = None, max_retries: int | None = None, **backend_options: Any) -> LLM:
    """Open the model named by ``spec`` behind the door. ``cache`` is a SQLite path or None.

    ``options`` says how it is called (:class:`ModelOptions`); ``limiter`` bounds the calls in
    flight (default: a semaphore of ``options.concurrency``; on Ray, the cluster's gate).
    ``concurrency=`` / ``timeout=`` / ``max_retries=`` are kept as shorthands that override
    ``options``. ``local`` and ``hf:`` models ignore timeout and retries.

    >>> llm = open_model("openai:m@http://127.0.0.1:9/v1", options=ModelOptions(timeout=3, max_retries=1))
    >>> llm.backend.timeout, llm.backend.max_retries, llm.concurrency
    (3.0, 1, 8)
    """
    if cache is not None and not isinstance(cache, ResponseCache):
        cache = ResponseCache(cache)
    opts = (options or ModelOptions()).replace(concurrency=concurrency, timeout=timeout, max_retries=max_retries)
    backend = make_backend(spec, timeout=opts.timeout, max_retries=opts.max_retries, **backend_options)
    return LLM(backend, cache=cache, ledger=ledger, options=opts, limiter=limiter)
