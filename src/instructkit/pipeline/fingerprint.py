"""Fingerprints: what a stage's output depends on, so an edited recipe re-runs only what changed.

fingerprint(stage) = hash(stage name, its effective options, fingerprint(its input)); the first
stage's input is the recipe's sources, fingerprinted by content (local files) or by name (hub ids).
Concurrency is left out: it changes how fast, not what.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from instructkit.records import stable_hash

_NOT_OUTPUT = ("concurrency",)


def _file_digest(path: Path, h: "hashlib._Hash") -> None:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)


def path_fingerprint(source: str) -> str:
    """Content hash of a file or of every file under a folder; a hub id hashes as its name."""
    p = Path(source)
    h = hashlib.sha256()
    if p.is_file():
        _file_digest(p, h)
    elif p.is_dir():
        for f in sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".")):
            h.update(str(f.relative_to(p)).encode())
            _file_digest(f, h)
    else:
        h.update(("name:" + source).encode())
    return h.hexdigest()[:16]


def sources_fingerprint(sources: list[str]) -> str:
    """The expanded sources (``.txt`` lists read) and each one's content."""
    expanded = list(sources)
    if any(s.endswith(".txt") for s in sources):
        from instructkit.sources import expand_sources

        expanded = expand_sources(list(sources))
    return stable_hash("sources", [(s if not Path(s).exists() else Path(s).name, path_fingerprint(s))
                                   for s in expanded], length=16)


def effective_options(options: dict[str, Any], model: str | None) -> dict[str, Any]:
    out = {k: v for k, v in options.items() if k not in _NOT_OUTPUT}
    if model is not None:
        out["model"] = model
    return out


def stage_fingerprint(name: str, options: dict[str, Any], model: str | None, input_fp: str) -> str:
    return stable_hash("stage", name, effective_options(options, model), input_fp, length=16)
