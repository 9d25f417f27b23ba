"""The record contract every example row is checked against on the way in.

An example row (any format ``io`` reads) must give:

* ``instruction``: a non-empty string (after stripping blanks);
* ``input`` and ``output``: strings; absent or ``null`` means "" (a prompt-only pool is valid for
  selection, and Alpaca leaves ``input`` empty);
* numbers are text that a typed format (Parquet, a JSON number) stored as a number: an ``int`` becomes its
  decimal digits (``4`` -> ``"4"``), a finite ``float`` its shortest repr (``0.5`` -> ``"0.5"``);
  nothing else converts: ``true``/``false``, lists, objects, NaN/infinity, bytes are rejected, because
  any text made from them (``"['a', 'b']"``) would be a guess that silently changes the data;
* every value of the row, ``meta`` included, is plain JSON: strings without unpaired surrogates,
  nesting at most :data:`MAX_DEPTH` levels, no bytes (dates and decimals become their text).

A row that breaks the contract is a :class:`BadRowError` naming ``file:line`` and the field (exit 2),
or, when a command runs with ``--skip-bad-rows``, a :class:`BadRow` that the command writes to its run
directory's ``rejected.jsonl`` and counts (``bad_rows``) in its manifest.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from instructkit.errors import UserError

MAX_DEPTH = 32  # levels of nested lists/objects in one row; deeper rows are rejected
_SURROGATE = re.compile("[\ud800-\udfff]")
_PREVIEW = 300  # characters of a rejected row kept in rejected.jsonl


@dataclass
class BadRow:
    """One rejected input row: where it is, which field broke the contract, and why."""

    where: str
    field: str
    reason: str
    row: dict[str, Any] = field(default_factory=dict, repr=False)

    def message(self) -> str:
        return f"{self.where}: {self.field}: {self.reason}"

    def record(self) -> dict[str, Any]:
        """What ``rejected.jsonl`` holds for this row (a short, JSON-safe preview of the row)."""
        return {"where": self.where, "field": self.field, "detail": self.reason, "row": preview(self.row)}


class BadRowError(UserError):
    """A row that breaks the record contract (see the module docstring)."""

    def __init__(self, bad: BadRow):
        super().__init__(f"{bad.message()}; fix the row, or pass --skip-bad-rows to leave it out")
        self.bad = bad


def preview(row: Any) -> str:
    """A short ASCII JSON rendering of ``row`` that never fails (deep or odd rows included)."""
    try:
        text = json.dumps(row, ensure_ascii=True, default=lambda v: f"<{type(v).__name__}>")
    except (RecursionError, ValueError, TypeError):
        text = f"<{type(row).__name__} that cannot be shown>"
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 3] + "..."


def fail(where: str, field_name: str, reason: str, row: dict[str, Any] | None = None) -> BadRowError:
    return BadRowError(BadRow(where, field_name, reason, dict(row or {})))


def as_text(value: Any, field_name: str, where: str, row: dict[str, Any], required: bool = False) -> str:
    """``value`` as the string a record field holds, under the contract's conversion rules."""
    if value is None:
        if required:
            raise fail(where, field_name, "is missing or null", row)
        return ""
    if isinstance(value, bool):
        raise fail(where, field_name, f"is a boolean ({json.dumps(value)}); give text", row)
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise fail(where, field_name, f"is {value}; give text", row)
        text = repr(value)
    elif isinstance(value, str):
        if _SURROGATE.search(value):
            raise fail(where, field_name, "holds an unpaired UTF-16 surrogate (broken text)", row)
        text = value
    else:
        kind = {list: "a list", dict: "an object", tuple: "a list"}.get(type(value), type(value).__name__)
        raise fail(where, field_name, f"is {kind}, not text; join or pick the text you mean", row)
    if required and not text.strip():
        raise fail(where, field_name, "is empty", row)
    return text


def plain(value: Any, where: str, field_name: str, row: dict[str, Any], depth: int = 0,
          nan_to_null: bool = True) -> Any:
    """``value`` as plain JSON (what run directories write), or a BadRowError saying why not.

    ``field_name`` "" is a whole row (its keys name the fields); ``nan_to_null`` False leaves NaN for
    :func:`as_text` to refuse in a text field."""
    if depth > MAX_DEPTH:
        raise fail(where, field_name or "row", f"nested deeper than {MAX_DEPTH} levels", row)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) or not nan_to_null else None  # NaN is no JSON: null
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise fail(where, field_name or "row", "holds an unpaired UTF-16 surrogate (broken text)", row)
        return value
    if isinstance(value, (_dt.date, _dt.time, decimal.Decimal)):
        return str(value)  # Parquet dates/decimals: their text is what a user reads
    if isinstance(value, (list, tuple)):
        return [plain(v, where, field_name or "row", row, depth + 1, nan_to_null) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = plain(k, where, field_name or "row", row, depth + 1) if isinstance(k, str) else str(k)
            out[key] = plain(v, where, f"{field_name}.{key}" if field_name else key, row, depth + 1, nan_to_null)
        return out
    raise fail(where, field_name or "row", f"holds {type(value).__name__} data, not JSON", row)


def reject_bad_rows(run: Any, bad: list[BadRow]) -> int:
    """Write each bad row to the run directory's ``rejected.jsonl`` (stage ``read``); returns how many."""
    for b in bad:
        run.reject(b.where, f"bad_row: {b.field} {b.reason}", stage="read", **b.record())
    return len(bad)


def write_bad_rows_beside(out: Any, bad: list[BadRow]) -> str | None:
    """For a command whose output is a file, not a run directory (``export``): the bad rows go to
    ``<out stem>.rejected.jsonl`` beside it (inside it for a folder). Returns the path, or None."""
    from pathlib import Path

    from instructkit.runs import atomic_write_jsonl

    if not bad:
        return None
    out = Path(out)
    path = out / "rejected.jsonl" if out.is_dir() else out.with_name(f"{out.name.split('.')[0]}.rejected.jsonl")
    atomic_write_jsonl(path, ({"reason": f"bad_row: {b.field} {b.reason}", **b.record()} for b in bad))
    return str(path)
