"""Counting prompt tokens without calling a model (for ``--dry-run``).

The embedded / GGUF models: the GGUF's own tokenizer (llama.cpp loaded with ``vocab_only``: no
weights, no inference) over the prompt rendered with the GGUF's chat template, exactly what the door
sends. Other models: the documented estimate of :data:`instructkit.llm.usage.CHARS_PER_TOKEN`
characters per token, plus :data:`MESSAGE_OVERHEAD` tokens per message for the chat markup.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from instructkit.llm.usage import estimate_tokens_from_chars

MESSAGE_OVERHEAD = 4  # <|im_start|>role\n ... <|im_end|>\n and its kin


class TokenCounter:
    """``count(messages) -> tokens``; ``method`` says how (``tokenizer`` or ``chars/4``)."""

    def __init__(self, spec: str):
        self.method = "chars/4"
        self._llm = None
        self._fmt = None
        from instructkit.llm import parse_spec

        kind, model, _ = parse_spec(spec)
        if kind == "local":
            try:
                self._open_gguf(model or None)
                self.method = "tokenizer"
            except Exception:  # noqa: BLE001 - no llama-cpp: fall back to the documented estimate
                self._llm = None

    def _open_gguf(self, path: str | None) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        from instructkit.llm.local import embedded_model_path

        llm = Llama(model_path=str(path or embedded_model_path()), vocab_only=True, verbose=False)
        template = llm.metadata.get("tokenizer.chat_template")
        if template:
            bos = llm.detokenize([llm.token_bos()]).decode("utf-8", "ignore")
            eos = llm.detokenize([llm.token_eos()]).decode("utf-8", "ignore")
            self._fmt = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
        self._llm = llm

    def count(self, messages: list[dict[str, str]]) -> int:
        if self._llm is None:
            return sum(estimate_tokens_from_chars(len(m["content"])) + MESSAGE_OVERHEAD for m in messages)
        text = (self._fmt(messages=messages).prompt if self._fmt is not None
                else "\n".join(m["content"] for m in messages))
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def count_text(self, text: str) -> int:
        return self.count([{"role": "user", "content": text}])


def observed_completion_mean(run_dir: Path) -> float | None:
    """Mean completion tokens of the answers in ``run_dir``'s cache (None when it holds none)."""
    import shutil
    import tempfile

    db = Path(run_dir) / "cache.sqlite"
    if not db.is_file():
        return None
    # SQLite touches the -shm index even to read a WAL database: read a copy, leave the run as it is
    with tempfile.TemporaryDirectory(prefix="instructkit-plan-") as tmp:
        for suffix in ("", "-wal"):
            if Path(f"{db}{suffix}").is_file():
                shutil.copyfile(f"{db}{suffix}", Path(tmp) / f"cache.sqlite{suffix}")
        try:
            con = sqlite3.connect(Path(tmp) / "cache.sqlite")
            try:
                rows = con.execute("SELECT value FROM responses").fetchall()
            finally:
                con.close()
        except sqlite3.Error:
            return None
    toks = []
    for (v,) in rows:
        try:
            d: dict[str, Any] = json.loads(v)
        except ValueError:
            continue
        if "completion_tokens" in d:
            toks.append(int(d["completion_tokens"]))
    return sum(toks) / len(toks) if toks else None
