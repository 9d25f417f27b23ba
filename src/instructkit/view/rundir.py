"""What a run directory holds, read once and checked: manifest, JSONL outputs, sidecar files.

A run directory is any folder with a ``manifest.json`` written by an instructkit command. Its
outputs are named by ``manifest.outputs`` ({"examples": "examples.jsonl", ...}) when present;
older runs fall back to the file names each command is known to write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructkit.errors import UserError

# the main "records" file of each kind of run, first match wins (fallback when manifest.outputs is absent)
EXAMPLE_FILES = ("examples.jsonl", "instances.jsonl", "selected_examples.jsonl", "kept.jsonl",
                 "clean.jsonl", "selected.jsonl", "scores.jsonl", "questions.jsonl")
SIDE_FILES = ("summary.json", "sweep.json", "sweep.csv", "results.json", "curve.json")
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")


@dataclass
class RunInfo:
    """A checked run directory: its manifest and the files the viewer may read or serve."""

    path: Path
    manifest: dict[str, Any]
    streams: dict[str, Path] = field(default_factory=dict)  # stream name -> JSONL file
    images: list[str] = field(default_factory=list)         # relative paths of plots in the run dir
    outputs: dict[str, str] = field(default_factory=dict)   # manifest.outputs, or the fallback

    @property
    def command(self) -> str:
        return str(self.manifest.get("command") or "")

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def examples_stream(self) -> str | None:
        """The stream the records page opens first."""
        named = self.outputs.get("examples")
        if named and Path(named).stem in self.streams:
            return Path(named).stem
        for f in EXAMPLE_FILES:
            if Path(f).stem in self.streams:
                return Path(f).stem
        return next(iter(self.streams), None)

    def side_json(self, name: str) -> Any:
        """A sidecar JSON file (summary.json ...): None when absent; a ValueError when unreadable."""
        p = self.path / name
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{name}: not valid JSON ({e})") from None

    def safe_file(self, rel: str) -> Path | None:
        """``rel`` resolved inside the run directory, or None (outside it, hidden, missing, a link out)."""
        if not rel or "\x00" in rel or rel.startswith(("/", "\\")):
            return None
        parts = Path(rel).parts
        if any(p in ("..", "") or p.startswith(".") for p in parts):
            return None
        root = self.path.resolve()
        target = (root / rel).resolve()
        if not target.is_file() or root not in target.parents:
            return None
        return target


def load_run(path: str | Path) -> RunInfo:
    """Check ``path`` is a run directory and list what it holds; bad input -> UserError (one line)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such directory; give a run directory (the --out of an instructkit command)")
    if not p.is_dir():
        raise UserError(f"{p}: not a directory; give a run directory (the --out of an instructkit command)")
    mpath = p / "manifest.json"
    if not mpath.is_file():
        raise UserError(f"{p}: not a run directory (no manifest.json); give the --out of an instructkit command")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{mpath}: corrupt manifest ({e}); re-run the command that wrote it") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("command"), str):
        raise UserError(f"{mpath}: corrupt manifest (no 'command'); re-run the command that wrote it")
    info = RunInfo(path=p, manifest=manifest)
    raw_outputs = manifest.get("outputs")
    if isinstance(raw_outputs, dict):
        info.outputs = {str(k): str(v) for k, v in raw_outputs.items() if isinstance(v, str)}
    for f in sorted(p.glob("*.jsonl")):
        if f.is_file() and not f.name.startswith("."):
            info.streams[f.stem] = f
    for rel in info.outputs.values():  # outputs may live in a subfolder (stage_1/train.jsonl)
        f = info.safe_file(rel)
        if f is not None and f.suffix == ".jsonl" and f.stem not in info.streams:
            info.streams[rel.removesuffix(".jsonl")] = f
    info.images = sorted(str(f.relative_to(p)) for f in p.rglob("*")
                         if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
                         and not any(part.startswith(".") for part in f.relative_to(p).parts))
    return info
