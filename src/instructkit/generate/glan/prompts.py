"""GLAN prompt templates: Jinja2 files under ``generate/prompts/glan_*.j2``.

A template renders a system part and a user part, split at a line ``=== user ===``. Its version
(``glan_subjects@<hash of the file>``) goes to ``LLM.chat(template=...)`` and into the node ids,
so editing a prompt changes the cache keys and regenerates the nodes that depend on it.

>>> msgs, version = render("glan_answer", discipline="Physics", question="Why is the sky blue?")
>>> msgs[0]["role"], msgs[1]["content"], version.startswith("glan_answer@")
('system', 'Why is the sky blue?', True)
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from typing import Any

SPLIT = "=== user ==="


@functools.lru_cache(maxsize=None)
def _load(name: str) -> tuple[Any, str]:
    import jinja2

    text = resources.files("instructkit.generate").joinpath(f"prompts/{name}.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                             autoescape=False)
    version = f"{name}@{hashlib.sha256(text.encode('utf-8')).hexdigest()[:10]}"
    return env.from_string(text), version


def version(name: str) -> str:
    """The version string of template ``name`` (changes whenever the file changes)."""
    return _load(name)[1]


def render(name: str, **variables: Any) -> tuple[list[dict[str, str]], str]:
    """(messages, version) of template ``name`` rendered with ``variables``."""
    template, ver = _load(name)
    text = template.render(**variables)
    system, sep, user = text.partition(SPLIT)
    if not sep:
        system, user = "", text
    msgs = [{"role": "system", "content": system.strip()}] if system.strip() else []
    msgs.append({"role": "user", "content": user.strip()})
    return msgs, ver
