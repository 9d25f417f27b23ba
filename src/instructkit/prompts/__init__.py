"""Every prompt instructkit sends to a model is a Jinja2 file in this package, read by this one loader.

A prompt's **name** is its path below this folder without ``.j2`` (``judge``, ``glan/answer``,
``dynosaur/system``). A line ``=== user ===`` splits a file into a system part and a user part;
a file without it is one user part (or a piece a caller places itself, like ``dynosaur/dataset``).
Worked demonstrations a prompt shows are YAML data files beside the templates, read with
:func:`data` (``dynosaur/demos.yaml``).

A prompt's **version** is its name and a hash of its file's text (``glan_answer@1a2b3c4d5e``), so
an edit is a new version without anyone bumping a constant. Run manifests record the versions a
run used (``prompts`` in ``manifest.json``).

A prompt's **cache tag** is what goes into cache keys (``LLM.chat(template=...)``, score and
prediction ids). It is the version, except for prompts that were Python strings with hand-written
labels before they became files (see ``_FROZEN_TAGS``): while such a file keeps the text it had
then, its tag stays the old label, so caches written before keep hitting; once the file changes,
the tag is its version like any other.

Set ``INSTRUCTKIT_PROMPTS=DIR`` to read ``DIR/<name>.j2`` instead of the packaged file where one
exists (the override's own hash becomes the version, so overridden prompts never share cache
entries with the packaged ones).

>>> msgs, tag = render("glan/answer", discipline="Physics", question="Why is the sky blue?")
>>> [m["role"] for m in msgs], msgs[1]["content"], tag == version("glan/answer")
(['system', 'user'], 'Why is the sky blue?', True)
>>> render("judge", instruction="Add.", answer="5")[1]
'qdit-judge-v1'
"""

from __future__ import annotations

import copy
import functools
import hashlib
import os
import threading
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

SPLIT = "=== user ==="
OVERRIDE_ENV = "INSTRUCTKIT_PROMPTS"

# Cache tags of prompts older than this loader: name -> (hash of the file text that the label
# stood for, the label). Never add to this table and never edit a hash in it: new prompts and
# edited prompts are versioned by content alone. The cache-fixture test
# (tests/prompts/test_prompt_cache_compat.py) holds caches written under these labels.
_FROZEN_TAGS: dict[str, tuple[str, str]] = {
    "judge": ("465db869db", "qdit-judge-v1"),
    "active_it": ("5a4fee5375", "active-it-prompt-v1"),
    "eval": ("822eef6c60", "eval-v1"),
    "llm/schema_note": ("ba9b3dec96", "hf-schema-v1"),
}

_uses: Counter = Counter()  # (name, version) -> times asked for, for run manifests
_uses_lock = threading.Lock()


@dataclass(frozen=True)
class Prompt:
    """One prompt file: its ``name``, where it was read (``source``) and its ``text``."""

    name: str
    source: str
    text: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:10]

    @property
    def version(self) -> str:
        """``<name with _ for />@<hash of the text>``: changes whenever the file changes."""
        return f"{self.name.replace('/', '_')}@{self.digest}"

    @property
    def cache_tag(self) -> str:
        """What cache keys use: the version, or a pre-loader label while the text is unchanged."""
        frozen = _FROZEN_TAGS.get(self.name)
        return frozen[1] if frozen and frozen[0] == self.digest else self.version

    def render(self, **variables: Any) -> str:
        """The whole file rendered with ``variables`` (a missing variable is an error)."""
        return _compile(self.text).render(**variables)

    def messages(self, **variables: Any) -> list[dict[str, str]]:
        """Chat messages: the system part (when there is one and it is not blank), then the user part.

        The file is split at its ``=== user ===`` line *before* rendering, so a variable that holds
        that line can never move text between the two parts. Each part is stripped.
        """
        system_src, sep, user_src = self.text.partition(f"\n{SPLIT}\n")
        if not sep:
            system_src, user_src = "", self.text
        system = _compile(system_src).render(**variables).strip() if system_src else ""
        msgs = [{"role": "system", "content": system}] if system else []
        msgs.append({"role": "user", "content": _compile(user_src).render(**variables).strip()})
        return msgs


def get(name: str, suffix: str = ".j2") -> Prompt:
    """The prompt ``name`` (override first, then the packaged file); KeyError when there is none."""
    override = os.environ.get(OVERRIDE_ENV)
    prompt = _read(name, override or "", suffix)
    with _uses_lock:
        _uses[(prompt.name, prompt.version)] += 1
    return prompt


def render(name: str, **variables: Any) -> tuple[list[dict[str, str]], str]:
    """(messages, cache tag) of prompt ``name`` rendered with ``variables``."""
    prompt = get(name)
    return prompt.messages(**variables), prompt.cache_tag


def render_text(name: str, **variables: Any) -> str:
    """Prompt ``name`` rendered as one piece of text (for prompts a caller places itself)."""
    return get(name).render(**variables)


def data(name: str) -> Any:
    """The YAML file ``<name>.yaml`` parsed (worked demonstrations a prompt shows, e.g. ``dynosaur/demos``).

    Versioned, overridden and recorded in manifests like a template.
    """
    return copy.deepcopy(_parse_yaml(get(name, ".yaml").text))  # a copy: callers may change what they get


def version(name: str) -> str:
    """The content version of prompt ``name`` (see the module docstring)."""
    return get(name).version


def cache_tag(name: str) -> str:
    """The cache tag of prompt ``name`` (see the module docstring)."""
    return get(name).cache_tag


def names() -> list[str]:
    """Every packaged prompt's name, sorted."""
    root = Path(str(resources.files(__name__)))
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.j2"))


def mark() -> Counter:
    """A snapshot of the prompts asked for so far (give it to :func:`used_since` later)."""
    with _uses_lock:
        return Counter(_uses)


def used_since(snapshot: Counter) -> dict[str, str]:
    """{name: version} of the prompts asked for since ``snapshot`` (one version per name: the last)."""
    with _uses_lock:
        grown = [key for key, n in _uses.items() if n > snapshot.get(key, 0)]
    return dict(sorted(grown))


def clear_cache() -> None:
    """Forget the files read so far (after editing a prompt or its override in a running process)."""
    _read.cache_clear()


@functools.lru_cache(maxsize=None)
def _read(name: str, override: str, suffix: str = ".j2") -> Prompt:
    if not name or name.startswith(("/", ".")) or ".." in name.split("/"):
        raise KeyError(f"bad prompt name {name!r}")
    if override:
        root = Path(override)
        if not root.is_dir():
            from instructkit.errors import UserError

            raise UserError(f"{OVERRIDE_ENV}={override}: not a folder; point it at a folder of <name>.j2 prompt files")
        path = root / f"{name}{suffix}"
        if path.is_file():
            return Prompt(name, str(path), path.read_text(encoding="utf-8"))
    packaged = resources.files(__name__).joinpath(f"{name}{suffix}")
    if not packaged.is_file():
        raise KeyError(f"no prompt named {name!r}; known: {', '.join(names())}")
    return Prompt(name, f"instructkit/prompts/{name}{suffix}", packaged.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def _parse_yaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


@functools.lru_cache(maxsize=None)
def _compile(text: str) -> Any:
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
    return env.from_string(text)
