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


def _meta_dict(meta: Any) -> dict[str, Any]:
    """``meta`` as a dict: exports may carry it as a JSON string (Arrow needs one column type)."""
    if isinstance(meta, str):
        if not meta.strip():
            return {}
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError:
            return {"raw": meta}
    return dict(meta) if isinstance(meta, dict) else ({} if meta is None else {"raw": meta})


def split_user_turn(user: str, output: str = "", row_id: str = "") -> tuple[str, str]:
    """(instruction, input) of a user turn written as ``instruction + "\\n\\n" + input``.

    An instruction may itself contain blank lines, so when the row carries its content id the split
    that reproduces that id wins; otherwise the first blank line splits.
    """
    if row_id and "\n\n" in user:
        if Example(instruction=user, input="", output=output).id == row_id:
            return user, ""
        pos = user.find("\n\n")
        while pos >= 0:
            ins, inp = user[:pos], user[pos + 2:]
            if Example(instruction=ins, input=inp, output=output).id == row_id:
                return ins, inp
            pos = user.find("\n\n", pos + 1)
    instruction, _, inp = user.partition("\n\n")
    return instruction, inp


def row_to_example(row: dict[str, Any], where: str = "") -> Example:
    """Map one row of any supported format to an Example (raises UserError if it fits none)."""
    if "instruction" in row or "prompt" in row and "response" in row:
        if "instruction" not in row:
            row = {"instruction": row.get("prompt"), "output": row.get("response"), **row}
        meta = _meta_dict(row.get("meta"))
        for k, v in row.items():  # keep extra columns (quality scores, task ids...) in meta
            if k not in ("instruction", "input", "output", "meta", "id", "prompt", "response") and k not in meta:
                meta[k] = v
        return Example(instruction=str(row.get("instruction") or ""), input=str(row.get("input") or ""),
                       output=str(row.get("output") or ""), meta=meta, id=str(row.get("id") or ""))
    turns = None
    for key in ("messages", "conversations"):
        if isinstance(row.get(key), list) and not all(isinstance(m, dict) for m in row[key]):
            raise UserError(f"{where}: '{key}' must be a list of objects (role/content or from/value)")
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
        meta = _meta_dict(row.get("meta"))
        if system:
            meta["system"] = system
        rid = str(row.get("id") or "")
        instruction, inp = split_user_turn(users[0], answers[0], rid)
        return Example(instruction=instruction, input=inp, output=answers[0], meta=meta, id=rid)
    raise UserError(f"{where}: row has no instruction/output, messages or conversations fields")


def _manifest_examples_file(folder: Path) -> Path | None:
    """The examples file of a run directory: its manifest's ``outputs.examples`` (or, in run
    directories written before that contract, the top-level ``examples`` key).

    A run directory whose command writes no examples (``eval``, ``train`` ...) is an error that
    says so, rather than a guess among its JSONL files.
    """
    from instructkit.runs import manifest_output

    named = manifest_output(folder, "examples")
    if named is not None:
        return named
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    command = manifest.get("command") if isinstance(manifest, dict) else None
    if isinstance(command, str) and command:
        old = _OLD_RUN_EXAMPLES.get(command)  # run directories from before outputs.examples
        if old and (folder / old).is_file():
            return folder / old
        raise UserError(f"{folder}: this '{command}' run directory names no examples file "
                        "(manifest outputs.examples); give the examples file itself")
    return None


# what each command wrote before manifests named outputs.examples
_OLD_RUN_EXAMPLES = {"dynosaur": "instances.jsonl", "glan": "examples.jsonl", "select qdit": "selected.jsonl",
                     "select active": "selected_examples.jsonl", "dedup": "kept.jsonl",
                     "decontaminate": "clean.jsonl"}


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
        named = _manifest_examples_file(p)
        if named is not None:
            yield from iter_rows(named)
            return
        # a run directory also holds rejected items and temp files: those are not examples
        files = sorted(f for f in list(p.glob("*.jsonl")) + list(p.glob("*.parquet"))
                       if not f.name.startswith(".") and f.name != "rejected.jsonl")
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
