"""Salvaging structured subjects and syllabus sessions from messy model output.

Even with schema-constrained decoding, a model's answer may be cut by ``max_tokens``, wrapped in
a fenced block or prose, written as JSON Lines, or use its own key names. The extractors here
take what is reasonable and say how they got it (``how``): ``json`` (clean), ``jsonl``,
``objects`` (complete objects recovered from a truncated or broken document) or ``list``
(a numbered/bulleted list, used only for the free-text fallback).

>>> r = parse_subjects('```json\\n{"subjects": [{"subject": "Optics", "level": "advanced"}]}\\n```')
>>> r.items[0]["name"], r.items[0]["level"], r.how
('Optics', 'advanced', 'json')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from instructkit.llm.jsonutil import extract_json

# Key synonyms seen in the wild, first match wins (compared lower-cased, spaces/dashes as "_").
SUBJECT_KEYS = {
    "name": ("name", "subject", "subject_name", "title", "course", "topic"),
    "level": ("level", "difficulty", "grade", "stage", "year"),
    "subtopics": ("subtopics", "sub_topics", "subtopic", "topics", "contents", "content", "units"),
}
SESSION_KEYS = {
    "title": ("title", "name", "session_title", "session", "topic", "lecture", "class"),
    "description": ("description", "desc", "summary", "overview", "details", "content", "objectives"),
    "key_concepts": ("key_concepts", "concepts", "keyconcepts", "key_points", "keywords", "topics",
                     "key_ideas", "subtopics"),
}
LIST_KEYS = {
    "subjects": ("subjects", "subject_list", "courses", "items", "list", "data", "results"),
    "sessions": ("sessions", "syllabus", "classes", "lectures", "schedule", "weeks", "items", "data"),
}
MAX_NAME = 120
_DEBRIS = re.compile(r'[{}\[\]]|":')
MAX_SUBTOPICS = 30

_LIST_LINE = re.compile(r"^\s*(?:[-*•]|\d{1,3}[.)]|#{1,4})\s+(?P<body>.+?)\s*$")
_SESSION_LINE = re.compile(r"^\s*(?:#{1,4}\s*)?(?:\*\*)?(?:session|class|lecture|week)\s*\d{1,3}\s*[:.\-–]?\s*(?P<title>.*?)(?:\*\*)?\s*$", re.I)
_STRIP = re.compile(r"^[\s\"'*_`]+|[\s\"'*_`:.;,]+$")
_ENUM = re.compile(r"^(?:\(?\d{1,3}[.)]|\(?[a-hA-H][.)]|[-*•])\s+")


@dataclass
class Parsed:
    """Items recovered from one completion, how, and what was wrong."""

    items: list[dict[str, Any]] = field(default_factory=list)
    how: str = "none"
    problems: list[str] = field(default_factory=list)


def _k(key: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(key).strip().lower())


def _pick(d: dict[str, Any], synonyms: tuple[str, ...]) -> Any:
    norm = {_k(k): v for k, v in d.items()}
    for s in synonyms:
        if s in norm and norm[s] not in (None, "", []):
            return norm[s]
    return None


def clean_text(value: Any, sentence: bool = False) -> str:
    """One-line text of a scalar (markdown emphasis, quotes and, for names, trailing punctuation removed)."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    if sentence:
        return " ".join(str(value).split()).strip("*_` ")
    return _STRIP.sub("", _ENUM.sub("", _STRIP.sub("", " ".join(str(value).split()))))


def as_list(value: Any) -> list[str]:
    """A list of clean non-empty strings from a list, or a comma/semicolon separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        value = re.split(r"[;,\n]|\s+-\s+", value)
    if isinstance(value, dict):
        value = [value.get("name") or value.get("title") or ""] if ("name" in value or "title" in value) else list(value)
    if not isinstance(value, list):
        value = [value]
    out: list[str] = []
    seen: set[str] = set()
    for v in value:
        if isinstance(v, dict):
            v = v.get("name") or v.get("title") or v.get("concept") or ""
        t = clean_text(v)
        if t and t.lower() not in seen and len(t) <= MAX_NAME:
            seen.add(t.lower())
            out.append(t)
    return out


def _candidate_dicts(text: str, list_key: str) -> tuple[list[Any], str, list[str]]:
    """Raw item candidates from ``text``: the reading (whole JSON, JSON Lines, or complete
    objects of a truncated/broken document) that recovers the most items; ties go to the first.
    """
    readings: list[tuple[list[Any], str]] = []
    try:
        readings.append((_items_in(extract_json(text), list_key), "json"))
    except ValueError:
        pass
    jl: list[Any] = []
    for ln in text.splitlines():
        ln = ln.strip().rstrip(",")
        if ln.startswith("{"):
            try:
                jl += _items_in(json.loads(ln), list_key)
            except json.JSONDecodeError:
                continue
    readings.append((jl, "jsonl"))
    readings.append((_complete_objects(text), "objects"))
    repaired = repair_truncated(text)
    readings.append((_items_in(repaired, list_key) if repaired is not None else [], "repaired"))
    best, how = max(readings, key=lambda r: len(r[0]))  # max keeps the first of equals
    if not best:
        return [], "none", []
    return best, how, (["truncated_or_broken_json"] if how in ("objects", "repaired") else [])


def repair_truncated(text: str) -> Any:
    """Parse a JSON document cut off mid-way: keep it up to its last complete value, close the rest.

    >>> repair_truncated('{"sessions": [{"title": "Atoms", "key_concepts": ["a", "b", "c')
    {'sessions': [{'title': 'Atoms', 'key_concepts': ['a', 'b']}]}
    """
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return None
    stack: list[str] = []
    safe: tuple[int, tuple[str, ...]] | None = None
    in_str = esc = False
    for pos in range(start, len(text)):
        ch = text[pos]
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]":
            if not stack or "{[".index(stack[-1]) != "}]".index(ch):
                break  # not JSON any more
            stack.pop()
            safe = (pos + 1, tuple(stack))
            if not stack:
                break  # a complete document: nothing to repair
        elif ch == "," and stack:
            safe = (pos, tuple(stack))  # everything before a comma is complete
    if safe is None:
        return None
    end, open_ = safe
    closing = "".join("}" if c == "{" else "]" for c in reversed(open_))
    try:
        return json.loads(text[start:end] + closing)
    except json.JSONDecodeError:
        return None


def _items_in(value: Any, list_key: str) -> list[Any]:
    """The item list inside a parsed JSON value (under a known key, or the first list of objects)."""
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        return []
    found = _pick(value, LIST_KEYS[list_key])
    if isinstance(found, list):
        return found
    for v in value.values():
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            return v
    return [value]  # a single item object


def _complete_objects(text: str) -> list[dict[str, Any]]:
    """Every complete innermost-item JSON object in ``text``, left to right, not overlapping."""
    dec = json.JSONDecoder()
    out: list[dict[str, Any]] = []
    i = 0
    while True:
        i = text.find("{", i)
        if i < 0:
            return out
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            i += 1
            continue
        if isinstance(obj, dict):
            inner = [x for v in obj.values() if isinstance(v, list) for x in v if isinstance(x, dict)]
            out += inner if inner and len(obj) == 1 else [obj]
        i = end


def list_items(text: str) -> list[str]:
    """Entries of a numbered/bulleted list (the text after the marker, up to a colon or dash)."""
    out = []
    for ln in text.splitlines():
        m = _LIST_LINE.match(ln)
        if not m:
            continue
        body = re.split(r"\s[-–—]\s|:\s|\(", m.group("body"), maxsplit=1)[0]
        name = clean_text(body)
        if name and len(name) <= MAX_NAME:
            out.append(name)
    return out


def parse_subjects(text: str, fallback_text: str = "") -> Parsed:
    """Subjects ``{name, level, subtopics}`` from an extraction answer.

    When it holds none, ``fallback_text`` (the free-text generation) is read as a list of
    subject names (``how="list"``, level ``unspecified``).
    """
    raw, how, problems = _candidate_dicts(text or "", "subjects")
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in raw:
        if isinstance(r, str):
            r = {"name": r}
        if not isinstance(r, dict):
            continue
        name = clean_text(_pick(r, SUBJECT_KEYS["name"]))
        if not name or len(name) > MAX_NAME or name.lower() in seen or _DEBRIS.search(name):
            continue
        seen.add(name.lower())
        level = clean_text(_pick(r, SUBJECT_KEYS["level"])) or "unspecified"
        items.append({"name": name, "level": level[:60],
                      "subtopics": as_list(_pick(r, SUBJECT_KEYS["subtopics"]))[:MAX_SUBTOPICS]})
    if raw and len(items) < len(raw):
        problems.append(f"dropped_{len(raw) - len(items)}_items_without_usable_name")
    if not items and fallback_text:
        names = [n for n in dict.fromkeys(list_items(fallback_text))]
        if names:
            return Parsed([{"name": n, "level": "unspecified", "subtopics": []} for n in names],
                          "list", problems + ["extraction_empty_used_free_text"])
    return Parsed(items, how if items else "none", problems)


def parse_sessions(text: str, fallback_text: str = "") -> Parsed:
    """Syllabus sessions ``{title, description, key_concepts}`` from an extraction answer.

    The free-text fallback reads "Session N: title" headings and the bullet lines under
    each as its key concepts.
    """
    raw, how, problems = _candidate_dicts(text or "", "sessions")
    items: list[dict[str, Any]] = []
    derived = 0
    for r in raw:
        if isinstance(r, str):
            r = {"title": r}
        if not isinstance(r, dict):
            continue
        title = clean_text(_pick(r, SESSION_KEYS["title"]))
        desc = _pick(r, SESSION_KEYS["description"])
        desc = clean_text(desc, sentence=True) if not isinstance(desc, list) else "; ".join(as_list(desc))
        concepts = as_list(_pick(r, SESSION_KEYS["key_concepts"]))
        if not title and (desc or concepts):
            # a title cut off (or ordered last by the grammar and never reached): name the
            # session after its description's first clause, else its first concept
            title = clean_text(re.split(r"[:.;,(]", desc, maxsplit=1)[0])[:80] if desc else concepts[0]
            if title:
                derived += 1
        if not title or len(title) > MAX_NAME * 2:
            continue
        items.append({"title": title, "description": desc, "key_concepts": concepts})
    if derived:
        problems.append(f"titles_derived_for_{derived}_sessions")
    if raw and len(items) < len(raw):
        problems.append(f"dropped_{len(raw) - len(items)}_sessions_without_title")
    if not items and fallback_text:
        items = _sessions_from_outline(fallback_text)
        if items:
            return Parsed(items, "list", problems + ["extraction_empty_used_free_text"])
    return Parsed(items, how if items else "none", problems)


def _sessions_from_outline(text: str) -> list[dict[str, Any]]:
    sessions: list[dict[str, Any]] = []
    for ln in text.splitlines():
        m = _SESSION_LINE.match(ln)
        if m:
            title = clean_text(m.group("title")) or f"Session {len(sessions) + 1}"
            sessions.append({"title": title, "description": "", "key_concepts": []})
            continue
        item = _LIST_LINE.match(ln)
        if item and sessions:
            concept = clean_text(re.split(r":\s", item.group("body"), maxsplit=1)[0])
            if concept and concept.lower() not in {c.lower() for c in sessions[-1]["key_concepts"]}:
                sessions[-1]["key_concepts"].append(concept)
    return sessions


def normalize_name(name: str) -> str:
    """Key used to merge duplicate subjects within a discipline ("Intro to Optics!" == "intro to optics")."""
    t = re.sub(r"[^\w\s]", " ", name.lower())
    t = re.sub(r"\b(an|the|a)\b", " ", t)
    t = re.sub(r"\bintroduction to\b|\bintro to\b|\bbasics of\b|\bfundamentals of\b", " ", t)
    return " ".join(t.split())
