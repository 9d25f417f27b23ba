"""THE file reader: rows of one data file (JSONL, JSON, CSV/TSV, Parquet; the text ones also gzipped,
``train.jsonl.gz``), and which split a file belongs to.

Every reader of example, task or dataset files goes through :func:`iter_file_rows` (row by row, with
the row's location ``file:line`` or ``file[index]``) or :func:`read_rows` (a first slice plus the
total), so BOMs, CSV quirks, JSON shapes and broken files are handled the same way everywhere.
Every problem is a one-line ``UserError`` naming the file (and line) and what to do: decode errors,
binary garbage, JSON nested deeper than Python can parse, corrupt Parquet, truncated gzip, ragged
CSV rows and duplicate CSV columns.

>>> read_rows("data/train.jsonl", limit=2)   # doctest: +SKIP
([{'text': ...}, {'text': ...}], 40, None)
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import zlib
from collections.abc import Iterator
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


def _is_gz(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def data_kind(path: Path) -> str | None:
    """'.jsonl', '.json', '.csv' or '.parquet' for a data file we can read, else None.

    A gzipped text file (``x.jsonl.gz``, ``x.json.gz``, ``x.csv.gz``, ``x.tsv.gz``) has its inner kind.
    """
    suffixes = [s.lower() for s in path.suffixes]
    ext = suffixes[-1] if suffixes else ""
    if ext == ".gz":
        ext = suffixes[-2] if len(suffixes) > 1 else ""
        ext = _ALIASES.get(ext, ext)
        return ext if ext in (".jsonl", ".json", ".csv") else None
    ext = _ALIASES.get(ext, ext)
    return ext if ext in DATA_EXTENSIONS else None


def _is_tsv(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".tsv") or name.endswith(".tsv.gz")


def _text_lines(path: Path) -> Iterator[str]:
    """Lines of a (possibly gzipped) UTF-8 file, BOM dropped; read errors become one UserError line."""
    try:
        opener = gzip.open(path, "rt", encoding="utf-8-sig", newline="") if _is_gz(path) else \
            open(path, encoding="utf-8-sig", newline="")
        with opener as f:
            yield from f
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text (binary or another encoding); save it as UTF-8") from None
    except (EOFError, gzip.BadGzipFile, zlib.error):
        raise UserError(f"{path}: not a readable gzip file (truncated or corrupt); compress it again") from None
    except OSError as e:
        raise UserError(f"{path}: cannot be read ({e.strerror or e})") from None


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
                        "use .jsonl, .json, .csv, .tsv or .parquet, optionally .gz (or a dataset folder)")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty; add rows or remove it")
    return kind


def read_lines(path: str | Path) -> Iterator[str]:
    """Lines of a (possibly gzipped) UTF-8 text file; read errors are one-line UserErrors."""
    return _text_lines(Path(path))


def read_text(path: str | Path) -> str:
    """A whole (possibly gzipped) UTF-8 text file; read errors are one-line UserErrors."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; check the path")
    return "".join(_text_lines(path))


def parse_json(text: str, where: str) -> Any:
    """``json.loads`` with every failure as a one-line UserError naming ``where``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{where}: not valid JSON ({e.msg}); fix or remove it") from None
    except RecursionError:
        raise UserError(f"{where}: JSON nested deeper than can be read; flatten it") from None


def _jsonl_object(line: str, where: str) -> dict[str, Any]:
    obj = parse_json(line, where)
    if not isinstance(obj, dict):
        raise UserError(f"{where}: expected one JSON object per line, got {type(obj).__name__}")
    return obj


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for lineno, line in enumerate(_text_lines(path), 1):
        if line.strip():
            yield f"{path}:{lineno}", _jsonl_object(line, f"{path}:{lineno}")


def _read_jsonl(path: Path, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    total = 0
    for lineno, line in enumerate(_text_lines(path), 1):
        if not line.strip():
            continue
        total += 1
        if limit is None or len(rows) < limit:  # past the limit: only count the rest (no parsing)
            rows.append(_jsonl_object(line, f"{path}:{lineno}"))
    return rows, total


# keys that hold the rows of a JSON object file, in the order they are looked for
_ROW_KEYS = ("data", "examples", "rows", "Instances")


def _json_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A .json file: a list of objects, an object holding one (``{"data": [...]}``), or JSON Lines."""
    text = "".join(_text_lines(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if text.lstrip().startswith("{") and e.msg == "Extra data":
            yield from _jsonl_rows(path)  # JSON Lines saved as .json (the HF hub accepts those too)
            return
        raise UserError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); fix the file") from None
    except RecursionError:
        raise UserError(f"{path}: JSON nested deeper than can be read; flatten it") from None
    if isinstance(data, dict):
        named = [data[k] for k in _ROW_KEYS if isinstance(data.get(k), list)]
        lists = [v for v in data.values() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        data = named[0] if named else lists[0] if len(lists) == 1 else [data]
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise UserError(f"{path}: item {i}: expected a JSON object, got {type(row).__name__}")
        yield f"{path}[{i}]", row


def _read_json(path: Path, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    rows = [row for _, row in _json_rows(path)]
    return (rows[:limit] if limit is not None else rows), len(rows)


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


def _csv_rows(path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Rows of a CSV/TSV file as text; a ragged row or a repeated column name is an error."""
    reader = csv.reader(_text_lines(path), delimiter="\t" if _is_tsv(path) else ",")
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise UserError(f"{path}: no header row; the first line must name the columns")
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise UserError(f"{path}: column {dup[0]!r} appears twice in the header; give each column one name")
        for row in reader:
            if not row:
                continue  # blank line
            if len(row) != len(header):
                what = "more" if len(row) > len(header) else "fewer"
                raise UserError(f"{path}:{reader.line_num}: {what} values ({len(row)}) than header columns "
                                f"({len(header)}); quote values that contain the delimiter")
            yield f"{path}:{reader.line_num}", dict(zip(header, row))
    except csv.Error as e:
        raise UserError(f"{path}:{reader.line_num}: not readable as CSV ({e})") from None


def _read_csv(path: Path, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    raw = [row for _, row in _csv_rows(path)]
    names = list(raw[0]) if raw else []
    cols = {n: _coerce_csv_column([r.get(n) for r in raw]) for n in names}
    rows = [{n: cols[n][i] for n in names} for i in range(len(raw))]
    total = len(rows)
    return (rows[:limit] if limit is not None else rows), total


def _open_parquet(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for bad files
        raise UserError(f"{path}: not a readable Parquet file ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


def _parquet_batches(path: Path, pf: Any) -> Iterator[list[dict[str, Any]]]:
    try:
        for batch in pf.iter_batches(batch_size=1024):
            yield batch.to_pylist()
    except Exception as e:  # noqa: BLE001 - a corrupt page surfaces only when read
        raise UserError(f"{path}: not a readable Parquet file ({_first_line(e)})") from None


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    i = 0
    for rows in _parquet_batches(path, _open_parquet(path)):
        for row in rows:
            yield f"{path}[{i}]", row
            i += 1


def _read_parquet(path: Path, limit: int | None) -> tuple[list[dict[str, Any]], int, dict | None]:
    pf = _open_parquet(path)
    total = pf.metadata.num_rows
    rows: list[dict[str, Any]] = []
    for batch in _parquet_batches(path, pf):
        rows.extend(batch)
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


def iter_file_rows(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(location, row)`` for every row of one data file, read lazily; the location is ``file:line``
    (JSONL, CSV) or ``file[index]`` (JSON, Parquet). CSV cells stay text here (an example's "007" is
    text); :func:`read_rows` gives CSV columns their types back for dataset cards.
    """
    path = Path(path)
    kind = _check_file(path)
    readers = {".jsonl": _jsonl_rows, ".json": _json_rows, ".csv": _csv_rows, ".parquet": _parquet_rows}
    yield from readers[kind](path)


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
