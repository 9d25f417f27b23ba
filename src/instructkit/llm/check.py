"""Cheap checks of a model spec, made before a run directory is created (nothing is loaded).

A bad spec, a missing or non-GGUF model file, an ``openai:`` model without a key or server, a
missing ``hf:`` folder: each is one :class:`~instructkit.errors.UserError` line (exit code 2)
instead of an empty run directory and a traceback from deep inside llama.cpp.

>>> check_spec("openai:m@http://127.0.0.1:8080/v1")
>>> check_spec("local:/nonexistent.gguf")
Traceback (most recent call last):
...
instructkit.errors.UserError: local:/nonexistent.gguf: model file not found; give local:/path/to/model.gguf
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from instructkit.errors import UserError
from instructkit.llm.door import parse_spec
from instructkit.redact import redact, register_url_secrets

GGUF_MAGIC = b"GGUF"


def check_gguf(path: str | Path, spec: str | None = None) -> Path:
    """``path`` if it is a readable file that starts with the GGUF magic bytes, else a UserError."""
    p = Path(path).expanduser()
    where = spec or str(p)
    if not p.exists():
        raise UserError(f"{where}: model file not found; give local:/path/to/model.gguf")
    if not p.is_file():
        raise UserError(f"{where}: is a directory, not a model file; give local:/path/to/model.gguf")
    try:
        with p.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise UserError(f"{p}: cannot read the model file ({e.strerror or e})") from None
    if magic != GGUF_MAGIC:
        raise UserError(f"{p}: not a GGUF model file")
    return p


def check_spec(spec: str, env: Mapping[str, str] | None = None) -> None:
    """Raise a one-line UserError if ``spec`` cannot be opened; load nothing, call nothing."""
    env = os.environ if env is None else env
    kind, name, base_url = parse_spec(spec)
    if kind == "local":
        if name:
            check_gguf(name, f"local:{name}")
        else:
            from instructkit.llm.local import embedded_model_path

            check_gguf(embedded_model_path())
    elif kind in ("openai", "openai-batch"):
        if base_url is not None:
            register_url_secrets(base_url)
            try:
                parts = urlsplit(base_url)
                parts.port  # noqa: B018 - raises ValueError on a port that is not a number
            except ValueError as e:
                raise UserError(f"model spec '{redact(spec)}': bad URL ({e})") from None
            if not parts.hostname:
                raise UserError(f"model spec '{redact(spec)}': the URL has no host")
        elif not (env.get("OPENAI_API_KEY") or "").strip():
            raise UserError(f"{spec} needs an API key: set OPENAI_API_KEY "
                            "(or give a server: openai:MODEL@http://host:port/v1)")
    elif kind == "hf":
        from instructkit.llm.hf_load import resolve

        resolve(name)
