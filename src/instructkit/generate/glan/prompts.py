"""GLAN's prompts: ``instructkit/prompts/glan/*.j2`` through the one loader (:mod:`instructkit.prompts`).

GLAN code names a prompt ``glan_<stage>`` (``glan_subjects``, ``glan_answer``...), which is the
prompt ``glan/<stage>``. Its version (``glan_subjects@<hash of the file>``) goes to
``LLM.chat(template=...)`` and into the node ids, so editing a prompt changes the cache keys and
regenerates the nodes that depend on it; an unchanged file keeps the keys it always had.

>>> msgs, version = render("glan_answer", discipline="Physics", question="Why is the sky blue?")
>>> msgs[0]["role"], msgs[1]["content"], version.startswith("glan_answer@")
('system', 'Why is the sky blue?', True)
"""

from __future__ import annotations

from typing import Any

from instructkit import prompts

SPLIT = prompts.SPLIT


def _name(name: str) -> str:
    return "glan/" + name.removeprefix("glan_")


def version(name: str) -> str:
    """The version string of template ``name`` (changes whenever the file changes)."""
    return prompts.cache_tag(_name(name))


def render(name: str, **variables: Any) -> tuple[list[dict[str, str]], str]:
    """(messages, version) of template ``name`` rendered with ``variables``."""
    return prompts.render(_name(name), **variables)
