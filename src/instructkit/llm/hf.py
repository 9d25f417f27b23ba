"""Transformers backend: ``hf:embedded`` (the bundled SmolLM2 via its GGUF) and ``hf:PATH``.

This is how a model trained by ``instructkit train`` answers every command that takes ``--model``.
Calls run one at a time on a dedicated worker thread (one model, torch's own threads do the
parallel work). Generation is greedy at temperature 0 and seeded sampling otherwise.

Constrained JSON (``schema=``): prompt-and-validate, not grammar-constrained decoding. The schema
is stated in a system note, the answer is opened with ``{`` (or ``[``) so the model starts inside
the value, and an invalid answer is retried up to twice with seeded sampling; the first valid
answer wins, else the last one is returned and the door reports its ``parse_error``. This is
cheap and deterministic, but unlike llama.cpp's grammar it can fail: callers must check
``parse_error``, as they must for every backend.

>>> backend = HFBackend("embedded")                                    # doctest: +SKIP
>>> backend.info.spec
'hf:embedded'
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from instructkit import prompts
from instructkit.errors import ModelError
from instructkit.llm import hf_load
from instructkit.llm.base import (
    Backend, BackendInfo, ChatRequest, Completion, Message, Scored, continuation_logprobs, continuation_start,
    fit_context,
)
from instructkit.llm.jsonutil import parse_structured

# instructkit/prompts/llm/schema_note.j2: its cache tag is part of the identity, since the note is added
# here, after the cache key of the request's own messages was taken (an edited note changes cache keys)
SCHEMA_NOTE = "llm/schema_note"
_RETRIES = 2


class HFBackend(Backend):
    """A causal LM through transformers, loaded lazily on first use.

    ``n_ctx`` caps prompt + answer tokens (longer prompts lose their start); ``n_threads`` sets
    torch's CPU threads. Other options meant for other backends are ignored.
    """

    def __init__(self, path_or_embedded: str = "embedded", n_ctx: int = 2048, n_threads: int | None = None,
                 **_other_backends_options: Any):
        self.ref = hf_load.resolve(path_or_embedded)
        self.n_ctx = int(n_ctx)
        self.n_threads = n_threads
        self.info = BackendInfo(spec=self.ref.spec,
                                identity={**hf_load.identity(self.ref), "schema_note": prompts.cache_tag(SCHEMA_NOTE)},
                                max_concurrency=1, can_score=True)
        self._model = None
        self._tok = None
        self._load_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.load_seconds = 0.0

    # -- loading and the worker thread --------------------------------------------------------
    def ensure_loaded(self):
        """(model, tokenizer), loading them on first call."""
        with self._load_lock:
            if self._model is None:
                import time

                hf_load.prepare_torch()
                import torch

                if self.n_threads:
                    torch.set_num_threads(int(self.n_threads))
                t0 = time.perf_counter()
                self._model, self._tok = hf_load.load(self.ref)
                self.load_seconds = time.perf_counter() - t0
        return self._model, self._tok

    async def _call(self, fn, *args):
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="instructkit-hf")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- prompts --------------------------------------------------------------------------------
    def render(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        """The model's chat template applied to ``messages`` (with the assistant turn opened)."""
        _, tok = self.ensure_loaded()
        if not tok.chat_template:
            raise ModelError(f"{self.info.spec} has no chat template; score a plain-text prompt instead",
                             kind="unsupported")
        return tok.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False)

    def _encode(self, text: str) -> list[int]:
        _, tok = self.ensure_loaded()
        # the rendered template already holds every special token the model expects
        return tok(text, add_special_tokens=False)["input_ids"]

    # -- chat -----------------------------------------------------------------------------------
    def _generate(self, prompt_ids: list[int], req: ChatRequest, temperature: float, seed: int):
        import torch

        model, tok = self.ensure_loaded()
        budget = self.n_ctx - req.max_tokens
        if budget < 1:
            raise ModelError(f"max_tokens {req.max_tokens} leaves no room for the prompt (n_ctx {self.n_ctx})",
                             kind="bad_request")
        prompt_ids = prompt_ids[-budget:]
        ids = torch.tensor([prompt_ids])
        kwargs: dict[str, Any] = dict(max_new_tokens=req.max_tokens, attention_mask=torch.ones_like(ids),
                                      pad_token_id=tok.pad_token_id, return_dict_in_generate=True,
                                      output_logits=req.logprobs > 0)
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=req.top_p, top_k=0)
            torch.manual_seed(int(seed))
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if req.stop:
            kwargs.update(stop_strings=list(req.stop), tokenizer=tok)
        with torch.inference_mode():
            out = model.generate(ids, **kwargs)
        new = out.sequences[0, len(prompt_ids):].tolist()
        eos = set(_as_list(model.generation_config.eos_token_id)) | {tok.eos_token_id}
        finish = "length"
        if new and new[-1] in eos:
            new, finish = new[:-1], "stop"
        text = tok.decode(new, skip_special_tokens=True)
        cut = min((i for i in (text.find(s) for s in req.stop) if i >= 0), default=-1)
        if cut >= 0:
            text, finish = text[:cut], "stop"
        top = None
        if req.logprobs > 0:
            top = []
            for step in out.logits[: len(new)]:
                lp = torch.log_softmax(step[0].double(), dim=-1)
                vals, idx = lp.topk(req.logprobs)
                top.append({tok.decode([int(i)]): float(v) for v, i in zip(vals, idx)})
        return text, len(prompt_ids), len(new), finish, top

    def _chat_sync(self, req: ChatRequest) -> Completion:
        messages = req.message_dicts()
        prefill = ""
        if req.schema is not None:
            note = prompts.render_text(SCHEMA_NOTE, shape=json.dumps(schema_shape(req.schema), ensure_ascii=False))
            if messages and messages[0]["role"] == "system":
                messages = [{"role": "system", "content": messages[0]["content"] + "\n\n" + note}] + messages[1:]
            else:
                messages = [{"role": "system", "content": note}] + messages
            prefill = {"object": "{", "array": "["}.get(str(req.schema.get("type")), "")
        prompt_ids = self._encode(self.render(messages) + prefill)
        attempts = 1 + (_RETRIES if req.schema is not None else 0)
        for attempt in range(attempts):
            temperature = req.temperature if attempt == 0 else max(req.temperature, 0.7)
            text, n_prompt, n_new, finish, top = self._generate(prompt_ids, req, temperature, req.seed + attempt)
            text = prefill + text
            if req.schema is None or parse_structured(text, req.schema)[1] is None:
                break
        return Completion(text=text, prompt_tokens=n_prompt, completion_tokens=n_new, finish_reason=finish,
                          top_logprobs=top, model=self.info.spec)

    async def chat(self, req: ChatRequest) -> Completion:
        return await self._call(self._chat_sync, req)

    # -- scoring --------------------------------------------------------------------------------
    def _score_sync(self, prompt: str | list[Message], continuation: str) -> Scored:
        import torch

        model, tok = self.ensure_loaded()
        prefix = prompt if isinstance(prompt, str) else self.render(prompt)
        p_tok = self._encode(prefix)
        full = self._encode(prefix + continuation)
        cut = continuation_start(p_tok, full)
        cont = full[cut:]
        if not cont:
            return Scored(tokens=[], logprobs=[], prompt_tokens=len(full))
        full, cut = fit_context(full, cut, self.n_ctx)
        with torch.inference_mode():
            logits = model(torch.tensor([full])).logits[0].double()
        return Scored(tokens=[tok.decode([t]) for t in cont],
                      logprobs=continuation_logprobs(logits[cut - 1: len(full) - 1].cpu().numpy(), cont),
                      prompt_tokens=cut)

    async def score(self, prompt: str | list[Message], continuation: str) -> Scored:
        return await self._call(self._score_sync, prompt, continuation)


def schema_shape(schema: dict[str, Any]) -> Any:
    """An example value shaped like ``schema``, with ``<type>`` placeholders.

    Small models copy a shape far more reliably than they read a JSON schema (given the schema
    itself, SmolLM2-135M tends to echo it back).

    >>> schema_shape({"type": "object", "properties": {"n": {"type": "integer"},
    ...               "tags": {"type": "array", "items": {"type": "string"}}}})
    {'n': '<integer>', 'tags': ['<string>']}
    """
    if "enum" in schema:
        return "<one of: " + " | ".join(map(str, schema["enum"])) + ">"
    t = schema.get("type")
    t = t[0] if isinstance(t, list) and t else t
    if t == "object" or "properties" in schema:
        return {k: schema_shape(v if isinstance(v, dict) else {}) for k, v in schema.get("properties", {}).items()}
    if t == "array":
        return [schema_shape(schema["items"] if isinstance(schema.get("items"), dict) else {})]
    return f"<{t or 'value'}>"


def _as_list(x: Any) -> list[int]:
    if x is None:
        return []
    return [int(v) for v in x] if isinstance(x, (list, tuple)) else [int(x)]
