"""Read example files in any format instructkit writes or trainers use, as Example records.

Accepted: our JSONL (instruction/input/output/meta/id), Alpaca JSON or JSONL, OpenAI-style
``messages`` JSONL, ShareGPT (``conversations`` with from/value), Parquet, CSV, and HF datasets
folders (``save_to_disk``). Every generator's and selector's output is valid input here.

>>> exs = load_examples("examples.jsonl")   # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from instructkit.errors import UserError
from instructkit.records import Example
from instructkit.rowcheck import BadRow, BadRowError, as_text, fail, plain
from instructkit.sources.datafiles import iter_file_rows

_ROLE = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
         "system": "system", "model": "assistant"}


def _meta_dict(meta: Any) -> dict[str, Any]:
    """``meta`` as a dict: exports may carry it as a JSON string (Arrow needs one column type)."""
    if isinstance(meta, str):
        if not meta.strip():
            return {}
        try:
            meta = json.loads(meta)
        except (json.JSONDecodeError, RecursionError):
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


def _turns(row: dict[str, Any], where: str) -> list[tuple[str, str]] | None:
    """(role, content) turns of a ``messages`` or ShareGPT ``conversations`` row, or None."""
    for key, role_key, text_key in (("messages", "role", "content"), ("conversations", "from", "value")):
        value = row.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
            raise fail(where, key, f"'{key}' must be a list of objects ({role_key}/{text_key})", row)
        return [(_ROLE.get(str(m.get(role_key)), str(m.get(role_key))),
                 as_text(m.get(text_key), f"{key}[{i}].{text_key}", where, row))
                for i, m in enumerate(value)]
    return None


def row_to_example(row: dict[str, Any], where: str = "") -> Example:
    """Map one row of any supported format to an Example under the record contract
    (:mod:`instructkit.rowcheck`); a row that fits no format or breaks the contract raises
    :class:`~instructkit.rowcheck.BadRowError` naming ``where`` and the field."""
    row = plain(row, where, "", row, nan_to_null=False)  # broken text, bytes or runaway nesting anywhere in the row
    if "instruction" in row or "prompt" in row and "response" in row:
        if "instruction" not in row:
            row = {"instruction": row.get("prompt"), "output": row.get("response"), **row}
        meta = _meta_dict(row.get("meta"))
        for k, v in row.items():  # keep extra columns (quality scores, task ids...) in meta
            if k not in ("instruction", "input", "output", "meta", "id", "prompt", "response") and k not in meta:
                meta[k] = v
        return Example(instruction=as_text(row.get("instruction"), "instruction", where, row, required=True),
                       input=as_text(row.get("input"), "input", where, row),
                       output=as_text(row.get("output"), "output", where, row),
                       meta=plain(meta, where, "meta", row), id=as_text(row.get("id"), "id", where, row))
    turns = _turns(row, where)
    if turns:
        system = "\n".join(c for r, c in turns if r == "system")
        users = [c for r, c in turns if r == "user"]
        answers = [c for r, c in turns if r == "assistant"]
        if not users or not answers:
            raise fail(where, "messages", "conversation needs a user and an assistant turn", row)
        meta = _meta_dict(row.get("meta"))
        if system:
            meta["system"] = system
        rid = as_text(row.get("id"), "id", where, row)
        instruction, inp = split_user_turn(users[0], answers[0], rid)
        if not instruction.strip():
            raise fail(where, "instruction", "the user turn is empty", row)
        return Example(instruction=instruction, input=inp, output=answers[0],
                       meta=plain(meta, where, "meta", row), id=rid)
    raise fail(where, "instruction", "row has no instruction/output, messages or conversations fields", row)


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


def old_examples_file(command: str) -> str | None:
    """The examples file ``command`` wrote before manifests named ``outputs.examples``, if it writes one."""
    return _OLD_RUN_EXAMPLES.get(command)


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
        if not files:  # a dataset folder laid out as on the hub: README.md card, data/train-*.parquet
            from instructkit.sources.loaders import example_files

            found = example_files(p)
            if found is None:
                raise UserError(f"{p}: folder holds no dataset (no dataset_info.json, .jsonl or .parquet)")
            files = found[1]
        for f in files:
            yield from iter_rows(f)
        return
    yield from iter_file_rows(p)  # the one file reader (sources.datafiles)


def read_examples(path: str | Path, skip_bad_rows: bool = False) -> tuple[list[Example], list[BadRow]]:
    """``(examples, bad rows)`` of ``path``. A row that breaks the record contract is an error
    (``file:line`` and field) unless ``skip_bad_rows``; then it is returned among the bad rows.
    A file that cannot be read at all (decode error, corrupt Parquet/gzip) is always an error."""
    out: list[Example] = []
    bad: list[BadRow] = []
    for where, row in iter_rows(path):
        try:
            out.append(row_to_example(row, where))
        except BadRowError as e:
            if not skip_bad_rows:
                raise
            bad.append(e.bad)
    if not out:
        hint = f" ({len(bad)} bad rows skipped; first: {bad[0].message()})" if bad else ""
        raise UserError(f"{path}: holds no examples{hint}")
    return out, bad


def load_examples(path: str | Path, skip_bad_rows: bool = False) -> list[Example]:
    """All examples in ``path``; raises UserError (naming file and row) on bad or empty input."""
    return read_examples(path, skip_bad_rows)[0]
