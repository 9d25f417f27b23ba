"""The columns the viewer filters on, taken from any record shape instructkit writes.

Examples carry provenance in ``meta`` (Dynosaur: dataset/config/split/row/task_id; GLAN: the
taxonomy path); tasks carry ``source``; rejected items a ``reason``; QDIT picks ``meta.qdit``.
Everything else is still searchable through :func:`body_text`.
"""

from __future__ import annotations

import re
from typing import Any

TITLE_KEYS = ("instruction", "question", "text", "name", "subject", "reason", "prompt", "task_id", "item_id")
_BODY_LIMIT = 20_000  # characters of a record fed to the full-text index (enough to find it by its words)


def _str(v: Any) -> str | None:
    if v is None or v == "":
        return None
    return v if isinstance(v, str) else str(v)


def record_id(rec: dict[str, Any], line: int) -> str:
    for k in ("id", "task_id", "item_id"):
        if rec.get(k) not in (None, ""):
            return str(rec[k])
    return f"line-{line}"


def title(rec: dict[str, Any]) -> str:
    for k in TITLE_KEYS:
        v = rec.get(k)
        if isinstance(v, str) and v.strip():
            return " ".join(v.split())[:200]
    return " ".join(str({k: v for k, v in rec.items() if k != "meta"}).split())[:200]


def columns(rec: dict[str, Any]) -> dict[str, Any]:
    """dataset, task, kind, label, tax (taxonomy path), selected, reason of one record (None when absent)."""
    meta = rec.get("meta") if isinstance(rec.get("meta"), dict) else {}
    source = rec.get("source") if isinstance(rec.get("source"), dict) else {}
    dataset = meta.get("dataset") or source.get("dataset") or rec.get("dataset")
    task = meta.get("task_id") or rec.get("task_id")
    kind = rec.get("kind") or meta.get("kind")
    label = rec.get("label") or meta.get("label")
    if label is None and kind == "classification" and isinstance(rec.get("output"), str):
        label = rec["output"][:80]  # a classification instance's output is its label
    tax = None  # GLAN's taxonomy path, field / sub-field / discipline / subject, as far as the record names it
    if meta.get("discipline"):
        tax = " / ".join(str(meta[k]) for k in ("field", "sub_field", "discipline", "subject") if meta.get(k))
    elif rec.get("discipline"):
        tax = " / ".join(str(rec[k]) for k in ("field", "sub_field", "discipline", "name") if rec.get(k))
    selected = None
    if isinstance(meta.get("qdit"), dict):
        selected = 1
    elif "selected" in rec and isinstance(rec["selected"], bool):
        selected = int(rec["selected"])
    return {"dataset": _str(dataset), "task": _str(task), "kind": _str(kind), "label": _str(label),
            "tax": _str(tax), "selected": selected, "reason": _str(rec.get("reason"))}


def body_text(rec: Any, limit: int = _BODY_LIMIT) -> str:
    """Every string and number in the record, space-joined (keys left out), cut at ``limit`` characters."""
    out: list[str] = []

    def walk(v: Any) -> None:  # plain recursion: the index build calls this once per record
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif v is not None and not isinstance(v, bool):
            out.append(str(v))

    walk(rec)
    return " ".join(out)[:limit]


# -- search hits ------------------------------------------------------------------------------------
def query_tokens(text: str) -> list[str]:
    """The words a search matches on, lower-cased, split as the full-text index splits them
    (unicode61: runs of letters and digits), so "co-op" or "co_op" finds "co" then "op"."""
    return list(dict.fromkeys(re.findall(r"[^\W_]+", text.lower())))


def _word_pattern(tokens: list[str]) -> re.Pattern[str]:
    return re.compile(r"(?<![^\W_])(" + "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True))
                      + r")(?![^\W_])", re.IGNORECASE)  # whole words, "_" splitting them as in the index


def _pieces(text: str, pat: re.Pattern[str]) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    at = 0
    for m in pat.finditer(text):
        if m.start() > at:
            out.append((text[at:m.start()], False))
        out.append((m.group(0), True))
        at = m.end()
    if at < len(text):
        out.append((text[at:], False))
    return out


def mark_all(text: str, tokens: list[str]) -> list[tuple[str, bool]] | None:
    """All of ``text`` as (piece, is_hit) pairs, every whole-word hit of the search marked; None without a hit."""
    if not tokens or not text:
        return None
    pieces = _pieces(text, _word_pattern(tokens))
    return pieces if any(hit for _, hit in pieces) else None


def highlight(text: str, tokens: list[str], width: int = 160) -> list[tuple[str, bool]] | None:
    """``text`` around its first search hit, cut to about ``width`` characters, as (piece, is_hit)
    pairs for the page to mark (escaped like any text: no markup is built here); None when no
    token of the search occurs in ``text`` as a whole word."""
    if not tokens or not text:
        return None
    pat = _word_pattern(tokens)
    first = pat.search(text)
    if first is None:
        return None
    start = max(0, first.start() - width // 3)
    if start:  # begin at a word
        space = text.find(" ", start, first.start())
        start = space + 1 if space != -1 else start
    end = min(len(text), start + width)
    out: list[tuple[str, bool]] = [("…", False)] if start else []
    out += _pieces(text[start:end], pat)
    if end < len(text):
        out.append(("…", False))
    return out


def field_hit(rec: Any, tokens: list[str], width: int = 160) -> tuple[str, list[tuple[str, bool]]] | None:
    """(the name of the first field whose text holds a word of the search, e.g. "output" or
    "meta.dataset", its highlighted piece), or None."""
    def walk(v: Any, path: str) -> tuple[str, list[tuple[str, bool]]] | None:
        if isinstance(v, dict):
            items = v.items()
        elif isinstance(v, list):
            items = ((f"{i}", x) for i, x in enumerate(v))
        else:
            text = v if isinstance(v, str) else None if v is None or isinstance(v, bool) else str(v)
            pieces = highlight(" ".join(text.split()), tokens, width) if text else None
            return (path, pieces) if pieces else None
        for k, x in items:
            found = walk(x, f"{path}.{k}" if path else str(k))
            if found:
                return found
        return None

    return walk(rec, "")
