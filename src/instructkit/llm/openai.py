"""Any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp's servers, Ollama, TGI) via the ``openai`` client.

What this backend adds over the bare client:

* **our own retries** (the client's are disabled): exponential backoff with full jitter on 429, 5xx,
  408/409, timeouts, dropped connections and malformed bodies; a ``Retry-After`` (seconds or an HTTP
  date, or ``retry-after-ms``) is honoured, capped at ``max_retry_wait``;
* **a hard per-attempt timeout**: every attempt runs under ``asyncio.wait_for``, so a server that
  trickles bytes forever cannot hold a call past ``timeout`` (httpx's own timeouts are per read);
* **structured output with a fallback chain**: ``response_format`` ``json_schema`` first, then
  llama.cpp-style ``{"type": "json_object", "schema": ...}``, then plain prompt-and-validate (the
  schema is described in the prompt; the door parses and validates either way). The mode that works
  is remembered per backend instance and found under a lock, so the discovery costs at most one
  rejected call per rejected mode, however many calls run in parallel;
* **the key stays secret**: it is read from ``api_key`` or ``OPENAI_API_KEY``, registered with
  :func:`instructkit.redact.register_secret`, and kept out of ``info``, caches and error messages.

>>> backend = OpenAIBackend("qwen2.5-7b", base_url="http://127.0.0.1:8000/v1")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from instructkit.errors import ModelError, UnsupportedError, UserError
from instructkit.llm.base import Backend, BackendInfo, ChatRequest, Completion, Message, Scored
from instructkit.llm.openai_settings import resolve as resolve_settings
from instructkit.llm.usage import note_retry
from instructkit.redact import redact, register_secret, register_url_secrets

T = TypeVar("T")

MODES = ("json_schema", "json_object", "prompt")
_NO_KEY = "no-key"  # local servers without auth still want a non-empty bearer
# a fixed, model-independent text used once to check that a server's echoed prompt logprobs line up
_PROBE = "The capital of France is"


class _FormatRejected(Exception):
    """The server refused a ``response_format`` mode (used only inside mode discovery)."""


def _strip_userinfo(url: str | None) -> str | None:
    if not url:
        return url
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def retry_after_seconds(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or HTTP date) or ``retry-after-ms``; None if absent."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _is_strict_compatible(schema: Any) -> bool:
    """OpenAI's strict mode needs every object closed and every property required."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            props = schema.get("properties", {})
            if schema.get("additionalProperties") is not False or set(schema.get("required", [])) != set(props):
                return False
        return all(_is_strict_compatible(v) for v in schema.values())
    if isinstance(schema, list):
        return all(_is_strict_compatible(v) for v in schema)
    return True


def _holds_json(comp: Completion) -> bool:
    """Whether an answer in a schema mode looks like the mode worked: a JSON value, or cut at max_tokens."""
    from instructkit.llm.jsonutil import extract_json

    if comp.finish_reason == "length":
        return True
    try:
        extract_json(comp.text)
    except ValueError:
        return False
    return True


def _mentions_format(err: Exception) -> bool:
    text = str(getattr(err, "message", "") or err).lower()
    return any(w in text for w in ("response_format", "json_schema", "json_object", "schema", "grammar"))


class OpenAIBackend(Backend):
    """An OpenAI-compatible chat endpoint. Use through :func:`instructkit.llm.open_model`.

    ``timeout`` bounds each attempt (seconds); ``max_retries`` is the number of retries after the
    first attempt; left as None they come from ``INSTRUCTKIT_OPENAI_TIMEOUT`` /
    ``INSTRUCTKIT_OPENAI_MAX_RETRIES`` or default to 120 s and 5 (:mod:`instructkit.llm.openai_settings`).
    ``backoff_base``/``max_backoff`` shape the exponential backoff (full jitter);
    ``max_retry_wait`` caps how long a server's ``Retry-After`` may make us wait.
    """

    def __init__(self, model: str, base_url: str | None = None, timeout: float | None = None,
                 max_retries: int | None = None, api_key: str | None = None, backoff_base: float = 0.5,
                 max_backoff: float = 30.0, max_retry_wait: float = 60.0):
        try:
            import openai  # noqa: F401
        except ImportError:  # pragma: no cover - a core dependency
            raise UserError("the openai package is not installed; run: pip install openai") from None
        key = api_key or os.environ.get("OPENAI_API_KEY") or ""
        if not key:
            if base_url is None:
                raise UserError("openai:MODEL needs an API key: set OPENAI_API_KEY "
                                "(or give a server: openai:MODEL@http://host:port/v1)")
            key = _NO_KEY
        if key != _NO_KEY:
            register_secret(key)
        register_url_secrets(base_url)
        self._key = key
        self.model = model
        self.base_url = base_url
        self.timeout, self.max_retries = resolve_settings(timeout, max_retries)
        self.backoff_base = float(backoff_base)
        self.max_backoff = float(max_backoff)
        self.max_retry_wait = float(max_retry_wait)
        shown_url = _strip_userinfo(base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1")
        spec = f"openai:{model}" + (f"@{_strip_userinfo(base_url)}" if base_url else "")
        self.info = BackendInfo(spec=spec, identity={"backend": "openai", "model": model, "base_url": shown_url},
                                max_concurrency=1024, can_score=True, price_key=model)
        self.mode: str | None = None  # structured-output mode that works, once known
        self._echo_ok: bool | None = None  # whether echoed prompt logprobs are aligned, once known
        self._clients: dict[int, Any] = {}  # one client per event loop (httpx pools are loop-bound)
        self._locks: dict[int, asyncio.Lock] = {}

    # -- plumbing ------------------------------------------------------------------------------
    def _client(self):
        from openai import AsyncOpenAI

        loop = asyncio.get_running_loop()
        client = self._clients.get(id(loop))
        if client is None:
            # our retries, our timeout: the client's own would multiply with ours
            client = AsyncOpenAI(api_key=self._key, base_url=self.base_url, max_retries=0,
                                 timeout=self.timeout + 1.0)
            self._clients = {id(loop): client}
        return client

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if id(loop) not in self._locks:
            self._locks = {id(loop): asyncio.Lock()}
        return self._locks[id(loop)]

    def _scrub(self, text: str) -> str:
        """``text`` without the key, URL credentials or any echoed Authorization value."""
        text = text.replace(self._key, "<redacted>") if self._key and self._key != _NO_KEY else text
        return redact(text)

    def _classify(self, e: BaseException) -> tuple[str, bool, str]:
        """(kind, retriable, readable message) for an exception from one attempt."""
        import openai

        where = f"{self.info.spec}"
        if isinstance(e, (asyncio.TimeoutError, openai.APITimeoutError)):
            return "timeout", True, f"{where}: no answer within {self.timeout:g}s"
        if isinstance(e, openai.APIConnectionError):
            return "connection", True, f"{where}: cannot connect ({e.__cause__ or e})"
        if isinstance(e, openai.APIStatusError):
            code = e.status_code
            detail = str(getattr(e, "message", "") or e)[:300]
            if code == 429:
                return "rate_limit", True, f"{where}: rate limited (HTTP 429): {detail}"
            if code in (401, 403):
                return "auth", False, f"{where}: not authorized (HTTP {code}); check OPENAI_API_KEY"
            if code == 404:
                return "bad_request", False, f"{where}: not found (HTTP 404): {detail}; check the model name and URL"
            if code == 408:
                return "timeout", True, f"{where}: server timed out (HTTP 408)"
            if code == 409 or code >= 500:
                return "server", True, f"{where}: server error (HTTP {code}): {detail}"
            return "bad_request", False, f"{where}: request rejected (HTTP {code}): {detail}"
        if isinstance(e, (openai.APIResponseValidationError, ValueError, KeyError, TypeError,
                          AttributeError, IndexError)):
            return "bad_response", True, f"{where}: malformed response ({type(e).__name__}: {str(e)[:200]})"
        return "server", True, f"{where}: {type(e).__name__}: {str(e)[:200]}"

    def _backoff(self, attempt: int, e: BaseException) -> float:
        wait = random.uniform(0, min(self.max_backoff, self.backoff_base * (2 ** attempt)))
        after = retry_after_seconds(getattr(getattr(e, "response", None), "headers", None))
        if after is not None:
            wait = max(wait, min(after, self.max_retry_wait))
        return wait

    async def _attempts(self, call: Callable[[], Awaitable[T]],
                        give_up: Callable[[BaseException], bool] | None = None) -> T:
        """Run ``call`` with the per-attempt timeout and our retry policy; ModelError when it fails."""
        attempt = 0
        while True:
            try:
                return await asyncio.wait_for(call(), timeout=self.timeout)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - classified below, never swallowed
                if give_up is not None and give_up(e):
                    raise _FormatRejected(str(e)) from None
                kind, retriable, msg = self._classify(e)
                if not retriable or attempt >= self.max_retries:
                    tries = f" (after {attempt + 1} attempts)" if attempt else ""
                    raise ModelError(self._scrub(msg + tries), kind=kind) from None
                note_retry(kind)
                await asyncio.sleep(self._backoff(attempt, e))
                attempt += 1

    # -- chat ----------------------------------------------------------------------------------
    def _chat_kwargs(self, req: ChatRequest, mode: str | None) -> dict[str, Any]:
        messages = req.message_dicts()
        kwargs: dict[str, Any] = dict(model=self.model, temperature=req.temperature, top_p=req.top_p,
                                      max_tokens=req.max_tokens, seed=req.seed)
        if req.stop:
            kwargs["stop"] = list(req.stop)
        if req.logprobs > 0:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = int(req.logprobs)
        if req.schema is not None:
            if mode == "json_schema":
                kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": "response", "schema": req.schema, "strict": _is_strict_compatible(req.schema)}}
            elif mode == "json_object":
                kwargs["response_format"] = {"type": "json_object", "schema": req.schema}
            else:
                hint = ("\n\nAnswer with only a JSON value (no prose, no code fence) that conforms to "
                        "this JSON schema:\n" + json.dumps(req.schema, ensure_ascii=False))
                if messages and messages[-1]["role"] == "user":
                    messages = messages[:-1] + [{"role": "user", "content": messages[-1]["content"] + hint}]
                else:
                    messages = messages + [{"role": "user", "content": hint.strip()}]
        kwargs["messages"] = messages
        return kwargs

    def _to_completion(self, resp: Any, req: ChatRequest) -> Completion:
        if not getattr(resp, "choices", None):
            raise ValueError("response has no choices")
        choice = resp.choices[0]
        text = choice.message.content
        if text is None:
            raise ValueError("response message has no content")
        top = None
        lp = getattr(choice, "logprobs", None)
        if req.logprobs > 0 and lp is not None and getattr(lp, "content", None):
            top = [({alt.token: float(alt.logprob) for alt in (item.top_logprobs or [])}
                    or {item.token: float(item.logprob)}) for item in lp.content]
        usage = getattr(resp, "usage", None)
        return Completion(text=text, prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                          completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                          finish_reason=choice.finish_reason or "", top_logprobs=top,
                          model=getattr(resp, "model", "") or self.model)

    async def _chat_once(self, req: ChatRequest, mode: str | None, discovering: bool) -> Completion:
        client = self._client()
        kwargs = self._chat_kwargs(req, mode)

        async def call() -> Completion:
            resp = await client.chat.completions.create(**kwargs)
            return self._to_completion(resp, req)

        give_up = None
        if discovering and mode != "prompt":
            import openai

            def give_up(e: BaseException) -> bool:
                # 400/422 in a schema mode: the format is the likely culprit (the next mode tells);
                # a 5xx only when it says so (llama-cpp-python answers a rejected format with 500)
                if isinstance(e, (openai.BadRequestError, openai.UnprocessableEntityError)):
                    return True
                return isinstance(e, openai.APIStatusError) and e.status_code >= 500 and _mentions_format(e)
        return await self._attempts(call, give_up)

    async def chat(self, req: ChatRequest) -> Completion:
        if req.schema is None:
            return await self._chat_once(req, None, False)
        if self.mode is not None:
            return await self._chat_once(req, self.mode, False)
        async with self._lock():  # one caller discovers the mode; the others then use it
            if self.mode is not None:
                return await self._chat_once(req, self.mode, False)
            for mode in MODES:
                try:
                    out = await self._chat_once(req, mode, True)
                except _FormatRejected:
                    note_retry("format_rejected")
                    continue
                if mode == "prompt" or _holds_json(out):
                    # a 200 of garbage (a proxy's error page) proves nothing about the mode: not remembered
                    self.mode = mode
                return out
        raise AssertionError("unreachable: prompt mode never raises _FormatRejected")  # pragma: no cover

    # -- scoring -------------------------------------------------------------------------------
    async def _echo(self, prompt: str, echo: bool) -> Any:
        client = self._client()

        async def call() -> Any:
            return await client.completions.create(model=self.model, prompt=prompt, echo=echo, logprobs=1,
                                                   max_tokens=1, temperature=0.0)
        try:
            resp = await self._attempts(call)
        except ModelError as e:
            if e.kind == "bad_request":
                raise UnsupportedError(f"{self.info.spec}: the completions endpoint refused an echo/logprobs "
                                       f"request, so this server cannot score text ({e})") from None
            raise
        lp = getattr(resp.choices[0], "logprobs", None) if resp.choices else None
        if lp is None or not lp.tokens or not lp.token_logprobs:
            raise UnsupportedError(f"{self.info.spec}: the server returned no token logprobs for the prompt "
                                   "(it lacks echo+logprobs support); score with the local backend or vLLM")
        return resp

    async def _check_alignment(self) -> bool:
        """Do echoed prompt logprobs belong to the right tokens? (llama-cpp-python shifts them by one
        for models without a BOS token.) Checked once: the logprob of the greedy next token must be
        the same whether it was generated or echoed back as part of the prompt."""
        gen = await self._echo(_PROBE, echo=False)
        g_text = gen.choices[0].text
        g_lp = gen.choices[0].logprobs.token_logprobs[0] if gen.choices[0].logprobs.token_logprobs else None
        if not g_text or g_lp is None:
            return True  # nothing to compare (EOS first): trust the server
        echoed = (await self._echo(_PROBE + g_text, echo=True)).choices[0].logprobs
        for tok, off, lp in zip(echoed.tokens, echoed.text_offset or [], echoed.token_logprobs):
            if off == len(_PROBE) and tok == g_text and lp is not None:
                return abs(float(lp) - float(g_lp)) < 0.05
        return True  # tokenized differently: cannot check, trust the server

    async def score(self, prompt: str | list[Message], continuation: str) -> Scored:
        if not isinstance(prompt, str):
            raise UnsupportedError(f"{self.info.spec}: scoring a chat (messages) needs the server's chat "
                                   "template, which the API does not expose; pass the rendered prompt string")
        if self._echo_ok is None:
            async with self._lock():
                if self._echo_ok is None:
                    self._echo_ok = await self._check_alignment()
        if not self._echo_ok:
            raise UnsupportedError(f"{self.info.spec}: this server's echoed prompt logprobs are shifted by one "
                                   "token (a known llama-cpp-python bug for models without BOS), so scores "
                                   "would be wrong; use --model local for that GGUF, or a vLLM server")
        full = prompt + continuation
        lp = (await self._echo(full, echo=True)).choices[0].logprobs
        offsets = list(lp.text_offset or [])
        if len(offsets) != len(lp.tokens):
            raise UnsupportedError(f"{self.info.spec}: the server returned logprobs without text offsets")
        toks: list[str] = []
        lps: list[float] = []
        n_prompt = 0
        for i, (tok, off, val) in enumerate(zip(lp.tokens, offsets, lp.token_logprobs)):
            if off >= len(full):
                break  # the one generated token (max_tokens=1), not part of the text
            end = offsets[i + 1] if i + 1 < len(offsets) else off + len(tok)
            if end <= len(prompt) or (val is None and i == 0):
                n_prompt += 1  # prompt token, or the first token (no context to predict it from)
                continue
            if val is None:
                raise UnsupportedError(f"{self.info.spec}: the server left token {i} without a logprob")
            toks.append(tok)
            lps.append(float(val))
        return Scored(tokens=toks, logprobs=lps, prompt_tokens=n_prompt)

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            try:
                await c.close()
            except Exception:  # noqa: BLE001 - closing a client bound to a finished loop
                pass
