"""Lenient JSON extraction and a small JSON-schema validator for structured model output.

Small models and servers without schema support answer with fenced blocks, prose around the
object, or a truncated tail; :func:`extract_json` finds the value, :func:`validate` checks it
against the subset of JSON Schema instructkit uses (type, properties, required, enum, items,
minItems, maxItems, minLength).
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)


def extract_json(text: str) -> Any:
    """Return the first JSON value found in ``text``; raise ValueError if there is none."""
    text = text.strip()
    candidates = [text] + [m.group(1).strip() for m in _FENCE.finditer(text)]
    for c in candidates:
        try:
            return json.loads(c)
        except json.JSONDecodeError:
            pass
    dec = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                value, _ = dec.raw_decode(text[i:])
                return value
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON value found in the response")


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Errors of ``value`` against ``schema`` (empty list = valid)."""
    errs: list[str] = []
    t = schema.get("type")
    types = t if isinstance(t, list) else [t] if t else []
    if types:
        ok = False
        for ty in types:
            if ty == "integer":
                ok |= isinstance(value, int) and not isinstance(value, bool)
            elif ty == "number":
                ok |= isinstance(value, (int, float)) and not isinstance(value, bool)
            elif ty in _TYPES:
                ok |= isinstance(value, _TYPES[ty])
        if not ok:
            return [f"{path}: expected {'/'.join(types)}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        for req in schema.get("required", []):
            if req not in value:
                errs.append(f"{path}: missing '{req}'")
        for k, sub in schema.get("properties", {}).items():
            if k in value:
                errs += validate(value[k], sub, f"{path}.{k}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errs.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append(f"{path}: more than {schema['maxItems']} items")
        if isinstance(schema.get("items"), dict):
            for i, v in enumerate(value):
                errs += validate(v, schema["items"], f"{path}[{i}]")
    if isinstance(value, str) and "minLength" in schema and len(value) < schema["minLength"]:
        errs.append(f"{path}: shorter than {schema['minLength']} characters")
    return errs


def parse_structured(text: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """(value, None) when ``text`` holds JSON valid under ``schema``, else (value_or_None, error)."""
    try:
        value = extract_json(text)
    except ValueError as e:
        return None, str(e)
    errs = validate(value, schema)
    return value, ("; ".join(errs[:3]) if errs else None)
