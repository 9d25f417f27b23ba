"""Read a dataset card: a README.md (or sidecar .md) with YAML front matter and a prose body.

The front matter is the HF hub's: ``pretty_name``, ``license``, ``configs`` (``data_files`` per
split), ``dataset_info`` (``features``, ``splits``; one entry per config, or a list). The
description is the card's prose: the "Dataset Summary"/"Description" section when there is one,
else the first paragraphs, with headings, link lists, tables, code and HTML left out and inline
markdown reduced to its text.

>>> parse_card_text("---\\npretty_name: Demo\\n---\\n# Demo\\n\\nShort **news** items.").description
'Short news items.'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructkit.errors import UserError

_MAX_DESCRIPTION = 1500


@dataclass
class CardFile:
    """What a card file says. ``meta`` is the raw YAML mapping."""

    meta: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    path: Path | None = None

    @property
    def pretty_name(self) -> str | None:
        v = self.meta.get("pretty_name")
        return str(v) if v else None

    @property
    def license(self) -> str | None:
        v = self.meta.get("license")
        if isinstance(v, list):
            v = ", ".join(str(x) for x in v if x)
        return str(v) if v else None

    def dataset_info(self, config: str | None) -> dict[str, Any]:
        """The ``dataset_info`` entry for ``config`` (a single mapping applies to every config)."""
        info = self.meta.get("dataset_info")
        if isinstance(info, dict):
            return info
        if isinstance(info, list):
            entries = [e for e in info if isinstance(e, dict)]
            for e in entries:
                if e.get("config_name", "default") == (config or "default"):
                    return e
            if len(entries) == 1 and config is None:
                return entries[0]
        return {}


_INLINE = [
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),              # images
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),          # [text](url) -> text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),         # [text][ref] -> text
    (re.compile(r"<[^>]+>"), ""),                           # inline html
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),               # bold
    (re.compile(r"(?<![\w*])([*_])(?!\s)(.+?)(?<!\s)\1(?![\w*])"), r"\2"),  # italics
    (re.compile(r"`([^`]+)`"), r"\1"),                      # code
]
_NOISE = re.compile(r"^\s*(\[?more information needed\]?|todo|n/a)\s*\.?$", re.I)
_SUMMARY_HEADING = re.compile(r"^#{1,6}\s*(dataset\s+)?(summary|description|about|overview)\b", re.I)


def strip_inline(text: str) -> str:
    for pat, repl in _INLINE:
        text = pat.sub(repl, text)
    return re.sub(r"\s+", " ", text).strip()


def _blocks(body: str) -> list[tuple[str, str]]:
    """The body as (kind, text) blocks: heading, para, list, table, code — comments/html dropped."""
    body = re.sub(r"<!--.*?-->", "", body, flags=re.S)
    out: list[tuple[str, str]] = []
    para: list[str] = []
    in_code = False

    def flush() -> None:
        if para:
            text = "\n".join(para)
            first = para[0].lstrip()
            if first.startswith("|"):
                kind = "table"
            elif re.match(r"([-*+]|\d+[.)])\s", first):
                kind = "list"
            elif first.startswith("<"):
                kind = "html"
            elif first.startswith(">"):
                kind, text = "para", "\n".join(p.lstrip("> ") for p in para)
            else:
                kind = "para"
            out.append((kind, text))
            para.clear()

    for line in body.splitlines():
        if line.strip().startswith(("```", "~~~")):
            flush()
            in_code = not in_code
            continue
        if in_code:
            continue
        if re.match(r"^\s*#{1,6}\s", line):
            flush()
            out.append(("heading", line.strip()))
        elif not line.strip() or re.match(r"^\s*([-*_]\s*){3,}$", line):
            flush()
        else:
            para.append(line)
    flush()
    return out


def prose_description(body: str, limit: int = _MAX_DESCRIPTION) -> str:
    """The card's description: its summary section, else its first prose paragraphs (plain text)."""
    blocks = _blocks(body)
    start = 0
    for i, (kind, text) in enumerate(blocks):
        if kind == "heading" and _SUMMARY_HEADING.match(text):
            start = i + 1
            break
    picked: list[str] = []
    for kind, text in blocks[start:]:
        if kind == "heading":
            if picked and start:  # the summary section ended
                break
            continue
        if kind == "list" and picked:
            # a list that continues a paragraph ("Each row has: - a - b") is part of the prose
            items = [strip_inline(re.sub(r"^\s*([-*+]|\d+[.)])\s+", "", x)) for x in text.splitlines()]
            picked.append("; ".join(i for i in items if i))
            continue
        if kind != "para":
            continue
        plain = strip_inline(text)
        if not plain or _NOISE.match(plain):
            continue
        picked.append(plain)
        if sum(len(p) for p in picked) >= limit or len(picked) >= 3:
            break
    text = "\n\n".join(picked)
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " …"
    return text


def parse_card_text(text: str, where: str = "README.md") -> CardFile:
    """Split front matter from prose and parse both (bad YAML -> UserError naming ``where``)."""
    import yaml

    text = text.lstrip("\ufeff")
    meta: dict[str, Any] = {}
    body = text
    m = re.match(r"^---[ \t]*\r?\n(.*?)(?:\r?\n)?^---[ \t]*$\r?\n?", text, flags=re.S | re.M)
    if m:
        try:
            loaded = yaml.safe_load(m.group(1))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = f" at line {mark.line + 2}" if mark is not None else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise UserError(f"{where}: the card's YAML front matter is invalid{line} ({problem}); "
                            "fix the block between the --- lines") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise UserError(f"{where}: the card's YAML front matter must be a mapping (key: value lines)")
        meta = loaded or {}
        body = text[m.end():]
    elif text.startswith("---"):
        raise UserError(f"{where}: the card's YAML front matter is not closed; end it with a line '---'")
    return CardFile(meta=meta, description=prose_description(body), path=Path(where))


def read_card(path: Path) -> CardFile:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    return parse_card_text(text, where=str(path))
