"""Read rows from one data file (JSONL, JSON, CSV, Parquet) and find which split a file belongs to.

Every problem is a one-line ``UserError`` naming the file (and line) and what to do.

>>> read_rows("data/train.jsonl", limit=2)   # doctest: +SKIP
([{'text': ...}, {'text': ...}], 40, None)
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from instructkit.errors import UserError

DATA_EXTENSIONS = (".jsonl", ".json", ".csv", ".parquet")
_ALIASES = {".ndjson": ".jsonl", ".tsv": ".csv", ".pq": ".parquet"}

# file/folder name words that name a split, as the HF hub recognizes them
_SPLIT_WORDS = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test", "testing": "test", "eval": "test", "evaluation": "test",
}
_SPLIT_ORDER = ["train", "validation", "test"]


def data_kind(path: Path) -> str | None:
    """'.jsonl', '.csv' or '.parquet' for a data file we can read, else None."""
    ext = path.suffix.lower()
    ext = _ALIASES.get(ext, ext)
    return ext if ext in DATA_EXTENSIONS else None


# JSON files that describe a dataset rather than hold its rows (HF save_to_disk, legacy infos)
_METADATA_JSON = {"dataset_info.json", "dataset_infos.json", "state.json", "dataset_dict.json"}


def is_data_file(path: Path) -> bool:
    return (path.is_file() and data_kind(path) is not None and not path.name.startswith(".")
            and path.name.lower() not in _METADATA_JSON)


def is_json_note(path: Path) -> bool:
    """A ``.json`` file holding one object that is not a table (a provenance or config note):
    beside real data files it describes them, it is not one more row."""
    if data_kind(path) != ".json" or path.stat().st_size > 1_000_000:
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    if not isinstance(data, dict):
        return False
    return not any(isinstance(v, list) and v and all(isinstance(x, dict) for x in v) for v in data.values())


def split_of(path: Path, root: Path) -> str | None:
    """The split a data file belongs to, from its name (``train.jsonl``, ``test-00000-of-00001.parquet``)
    or a parent folder named like a split (``validation/part1.jsonl``); None if nothing names one."""
    stem = path.name.split(".")[0].lower()
    words = [w for w in re.split(r"[-_. 0-9]+", stem) if w]
    if words and words[0] in _SPLIT_WORDS:
        return _SPLIT_WORDS[words[0]]
    for w in words:
        if w in _SPLIT_WORDS:
            return _SPLIT_WORDS[w]
    try:
        rel_parts = path.relative_to(root).parts[:-1]
    except ValueError:
        rel_parts = ()
    for part in reversed(rel_parts):
        if part.lower() in _SPLIT_WORDS:
            return _SPLIT_WORDS[part.lower()]
    return None


def order_splits(names: list[str]) -> list[str]:
    """train, validation, test first, then the rest alphabetically."""
    known = [s for s in _SPLIT_ORDER if s in names]
    return known + sorted(s for s in names if s not in _SPLIT_ORDER)


def _check_file(path: Path) -> str:
    if not path.exists():
        raise UserError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected a data file")
    kind = data_kind(path)
    if kind is None:
        raise UserError(f"{path}: unknown file type '{path.suffix or '(none)'}'; "
                        "use .jsonl, .json, .csv or .parquet (or a dataset folder)")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty; add rows or remove it")
    return kind


def _read_jsonl(path: Path, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    total = 0
    with open(path, encoding="utf-8-sig", errors="strict") as f:
        try:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                total += 1
                if limit is not None and len(rows) >= limit:
                    continue  # only count the rest (cheap; no parsing)
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise UserError(f"{path}:{lineno}: not valid JSON ({e.msg}); fix or remove that line") from None
                if not isinstance(obj, dict):
                    raise UserError(f"{path}:{lineno}: expected one JSON object per line, got {type(obj).__name__}")
                rows.append(obj)
        except UnicodeDecodeError:
            raise UserError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    return rows, total


def _read_json(path: Path, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    """A .json file: a list of objects, an object holding one (``{"data": [...]}``), or JSON Lines."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if text.lstrip().startswith("{") and e.msg == "Extra data":
            return _read_jsonl(path, limit)  # JSON Lines saved as .json (the HF hub accepts those too)
        raise UserError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); fix the file") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        data = lists[0] if len(lists) == 1 else [data]
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise UserError(f"{path}: item {i}: expected a JSON object, got {type(row).__name__}")
    return (data[:limit] if limit is not None else data), len(data)


def _coerce_csv_column(values: list[str | None]) -> list[Any]:
    """CSV holds only text: give a column numbers/bools back when every non-empty value is one."""
    present = [v for v in values if v not in (None, "")]
    if not present:
        return [None] * len(values)
    lowered = {v.strip().lower() for v in present}
    if lowered <= {"true", "false"}:
        return [None if v in (None, "") else v.strip().lower() == "true" for v in values]
    for conv in (int, float):
        try:
            converted = [conv(v) for v in present]
        except ValueError:
            continue
        if conv is int and any(v.strip().startswith("0") and len(v.strip()) > 1 for v in present):
            break  # zip codes, ids with leading zeros: keep them as text
        it = iter(converted)
        return [None if v in (None, "") else next(it) for v in values]
    return [None if v is None else v for v in values]


def _read_csv(path: Path, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            if not reader.fieldnames or not any(h.strip() for h in reader.fieldnames):
                raise UserError(f"{path}: no header row; the first line must name the columns")
            raw = []
            for row in reader:
                if None in row:
                    raise UserError(f"{path}:{reader.line_num}: more values than header columns; "
                                    "quote values that contain the delimiter")
                raw.append(row)
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    except csv.Error as e:
        raise UserError(f"{path}: not readable as CSV ({e})") from None
    names = list(reader.fieldnames)
    cols = {n: _coerce_csv_column([r.get(n) for r in raw]) for n in names}
    rows = [{n: cols[n][i] for n in names} for i in range(len(raw))]
    total = len(rows)
    return (rows[:limit] if limit is not None else rows), total


def _read_parquet(path: Path, limit: int | None) -> tuple[list[dict[str, Any]], int, dict | None]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for bad files
        raise UserError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0]})") from None
    total = pf.metadata.num_rows
    rows: list[dict[str, Any]] = []
    for batch in pf.iter_batches(batch_size=1024):
        rows.extend(batch.to_pylist())
        if limit is not None and len(rows) >= limit:
            rows = rows[:limit]
            break
    hf_features = None
    meta = pf.schema_arrow.metadata or {}
    if b"huggingface" in meta:  # datasets writes its Features (ClassLabel names...) here
        try:
            hf_features = json.loads(meta[b"huggingface"]).get("info", {}).get("features")
        except (json.JSONDecodeError, AttributeError):
            hf_features = None
    return rows, total, hf_features


def read_rows(path: str | Path, limit: int | None = None) -> tuple[list[dict[str, Any]], int, dict | None]:
    """Rows of one data file: ``(rows[:limit], total rows in the file, HF features JSON or None)``.

    Raises UserError for a missing, empty, unreadable or unknown-type file, or a bad JSON line.
    """
    path = Path(path)
    kind = _check_file(path)
    if kind == ".jsonl":
        rows, total = _read_jsonl(path, limit)
        return rows, total, None
    if kind == ".json":
        rows, total = _read_json(path, limit)
        return rows, total, None
    if kind == ".csv":
        rows, total = _read_csv(path, limit)
        return rows, total, None
    return _read_parquet(path, limit)
