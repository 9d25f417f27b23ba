"""Per-attempt timeout and retry count of the ``openai:`` backends, and where they come from.

An explicit value (a ``--timeout``/``--max-retries`` flag, or ``open_model(..., timeout=...)``)
wins; otherwise the environment (``INSTRUCTKIT_OPENAI_TIMEOUT``, ``INSTRUCTKIT_OPENAI_MAX_RETRIES``);
otherwise the defaults (120 s, 5 retries). Neither changes an answer, so neither is part of a
cache key. Bad values are a :class:`~instructkit.errors.UserError` naming where they came from.

>>> resolve(timeout=3, max_retries=1, env={})
(3.0, 1)
>>> resolve(env={"INSTRUCTKIT_OPENAI_MAX_RETRIES": "0"})
(120.0, 0)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from instructkit.errors import UserError

DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 5
ENV_TIMEOUT = "INSTRUCTKIT_OPENAI_TIMEOUT"
ENV_MAX_RETRIES = "INSTRUCTKIT_OPENAI_MAX_RETRIES"


def check_timeout(value: Any, where: str | None = None) -> float:
    """``value`` as seconds per attempt: a finite number above 0, else a UserError that starts
    with ``where`` (what the user wrote, e.g. ``--timeout 0``)."""
    seconds = math.nan
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except ValueError:
            pass
    if not math.isfinite(seconds) or seconds <= 0:
        raise UserError(f"{where or f'timeout={value!r}'}: must be a number of seconds above 0 "
                        "(the limit on each attempt of an openai: model call)")
    return seconds


def check_max_retries(value: Any, where: str | None = None) -> int:
    """``value`` as a retry count: a whole number, 0 or more, else a UserError that starts with ``where``."""
    count: int | None = None
    if isinstance(value, str):
        try:
            count = int(value.strip())
        except ValueError:
            pass
    elif isinstance(value, int) and not isinstance(value, bool):
        count = value
    elif isinstance(value, float) and value.is_integer():
        count = int(value)
    if count is None or count < 0:
        raise UserError(f"{where or f'max_retries={value!r}'}: must be a whole number, 0 or more "
                        "(retries after a failed attempt of an openai: model call; 0 = one attempt only)")
    return count


def _setting(value, env: Mapping[str, str], name: str, check, default):
    """The explicit value, else the environment variable ``name``'s, else ``default`` (each checked)."""
    if value is not None:
        return check(value)
    raw = env.get(name, "").strip()
    if raw:
        return check(raw, f"{name}={raw!r} (in the environment)")
    return default


def resolve(timeout: float | None = None, max_retries: int | None = None,
            env: Mapping[str, str] | None = None) -> tuple[float, int]:
    """(timeout, max_retries): the explicit value, else the environment's, else the default."""
    env = os.environ if env is None else env
    return (_setting(timeout, env, ENV_TIMEOUT, check_timeout, DEFAULT_TIMEOUT),
            _setting(max_retries, env, ENV_MAX_RETRIES, check_max_retries, DEFAULT_MAX_RETRIES))
