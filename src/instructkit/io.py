"""Read example files in any format instructkit writes or trainers use, as Example records.

Accepted: our JSONL (instruction/input/output/meta/id), Alpaca JSON or JSONL, OpenAI-style
``messages`` JSONL, ShareGPT (``conversations`` with from/value), Parquet, CSV, and HF datasets
folders (``save_to_disk``). Every generator's and selector's output is valid input here.

>>> exs = load_examples("examples.jsonl")   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from instructkit.errors import UserError
from instructkit.records import Example
from instructkit.runs import read_jsonl

_ROLE = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
         "system": "system", "model": "assistant"}


def row_to_example(row: dict[str, Any], where: str = "") -> Example:
    """Map one row of any supported format to an Example (raises UserError if it fits none)."""
    if "instruction" in row or "prompt" in row and "response" in row:
        if "instruction" not in row:
            row = {"instruction": row.get("prompt"), "output": row.get("response"), **row}
        meta = row.get("meta")
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except json.JSONDecodeError:
                meta = {"raw": meta}
        meta = dict(meta or {})
        for k, v in row.items():  # keep extra columns (quality scores, task ids...) in meta
            if k not in ("instruction", "input", "output", "meta", "id", "prompt", "response") and k not in meta:
                meta[k] = v
        return Example(instruction=str(row.get("instruction") or ""), input=str(row.get("input") or ""),
                       output=str(row.get("output") or ""), meta=meta, id=str(row.get("id") or ""))
    turns = None
    if isinstance(row.get("messages"), list):
        turns = [(_ROLE.get(str(m.get("role")), str(m.get("role"))), str(m.get("content") or ""))
                 for m in row["messages"]]
    elif isinstance(row.get("conversations"), list):
        turns = [(_ROLE.get(str(m.get("from")), str(m.get("from"))), str(m.get("value") or ""))
                 for m in row["conversations"]]
    if turns:
        system = "\n".join(c for r, c in turns if r == "system")
        users = [c for r, c in turns if r == "user"]
        answers = [c for r, c in turns if r == "assistant"]
        if not users or not answers:
            raise UserError(f"{where}: conversation needs a user and an assistant turn")
        meta = dict(row.get("meta") or {})
        if system:
            meta["system"] = system
        instruction, _, inp = users[0].partition("\n\n")
        return Example(instruction=instruction, input=inp, output=answers[0], meta=meta,
                       id=str(row.get("id") or ""))
    raise UserError(f"{where}: row has no instruction/output, messages or conversations fields")


def iter_rows(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, row) pairs from a file or HF dataset folder."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file or folder")
    if p.is_dir():
        if (p / "dataset_info.json").exists() or (p / "state.json").exists() or (p / "dataset_dict.json").exists():
            try:
                import datasets
            except ImportError:
                raise UserError("reading an HF dataset folder needs: pip install 'instructkit[hf]'") from None
            ds = datasets.load_from_disk(str(p))
            if isinstance(ds, datasets.DatasetDict):
                ds = ds["train"] if "train" in ds else ds[next(iter(ds))]
            for i, row in enumerate(ds):
                yield f"{p}[{i}]", dict(row)
            return
        files = sorted(list(p.glob("*.jsonl")) + list(p.glob("*.parquet")))
        if not files:
            raise UserError(f"{p}: folder holds no dataset (no dataset_info.json, .jsonl or .parquet)")
        for f in files:
            yield from iter_rows(f)
        return
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        for i, row in enumerate(read_jsonl(p), 1):
            yield f"{p}:{i}", row
    elif suffix == ".json":
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None
        if isinstance(data, dict):
            data = data.get("data") or data.get("examples") or data.get("Instances") or [data]
        if not isinstance(data, list):
            raise UserError(f"{p}: expected a JSON list of examples")
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise UserError(f"{p}[{i}]: expected an object, got {type(row).__name__}")
            yield f"{p}[{i}]", row
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(p)
        except Exception as e:  # noqa: BLE001 - pyarrow raises many types for bad files
            raise UserError(f"{p}: not a readable Parquet file ({e})") from None
        for i, row in enumerate(table.to_pylist()):
            yield f"{p}[{i}]", row
    elif suffix in (".csv", ".tsv"):
        with open(p, newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","), 2):
                yield f"{p}:{i}", dict(row)
    else:
        raise UserError(f"{p}: unsupported file type '{suffix}'; use .jsonl, .json, .parquet, .csv or an HF folder")


def load_examples(path: str | Path) -> list[Example]:
    """All examples in ``path``; raises UserError (naming file and row) on bad or empty input."""
    out = [row_to_example(row, where) for where, row in iter_rows(path)]
    if not out:
        raise UserError(f"{path}: holds no examples")
    return out
