"""Export examples in the formats training tools take directly.

* ``alpaca``: ``{"instruction", "input", "output"}`` rows, a JSON list (``.json``) or JSONL (``.jsonl``);
* ``sharegpt``: ``{"conversations": [{"from": "system"|"human"|"gpt", "value": ...}]}``;
* ``messages``: OpenAI-style ``{"messages": [{"role": "system"|"user"|"assistant", "content": ...}]}``
  JSONL, what TRL's ``SFTTrainer`` (and most trainers) take;
* ``hf``: an HF dataset folder (``save_to_disk``) plus ``data/train.parquet`` and a ``README.md``
  dataset card (sources, licenses, methods, models, counts).

The user turn is ``instruction + "\\n\\n" + input`` (just the instruction when there is no input);
``meta.system`` (or ``system=``) becomes a system turn. Rows keep ``id`` and ``meta`` (a JSON
string, so every row has the same Arrow type) unless ``with_meta=False``; ``instructkit.io``
reads every export back into the same examples. All files are written atomically.

>>> from instructkit.records import Example
>>> to_messages(Example("Translate.", "Bonjour", "Hello"), with_meta=False)["messages"][0]
{'role': 'user', 'content': 'Translate.\\n\\nBonjour'}
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from instructkit.errors import UserError
from instructkit.records import Example
from instructkit.runs import atomic_write_jsonl, atomic_write_text

FORMATS = ("alpaca", "sharegpt", "messages", "hf")


def user_turn(ex: Example) -> str:
    return ex.user_turn()


def _extras(ex: Example, with_meta: bool) -> dict[str, Any]:
    if not with_meta:
        return {}
    return {"id": ex.id, "meta": json.dumps(ex.meta, ensure_ascii=False, sort_keys=True, default=str)}


def _system(ex: Example, system: str | None) -> str | None:
    return ex.system_prompt(system)


def to_alpaca(ex: Example, with_meta: bool = True, system: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"instruction": ex.instruction, "input": ex.input, "output": ex.output}
    return {**row, **_extras(ex, with_meta)}


def to_sharegpt(ex: Example, with_meta: bool = True, system: str | None = None) -> dict[str, Any]:
    sys_msg = _system(ex, system)
    conv = ([{"from": "system", "value": sys_msg}] if sys_msg else []) + [
        {"from": "human", "value": user_turn(ex)}, {"from": "gpt", "value": ex.output}]
    return {"conversations": conv, **_extras(ex, with_meta)}


def to_messages(ex: Example, with_meta: bool = True, system: str | None = None) -> dict[str, Any]:
    return {"messages": ex.messages(system), **_extras(ex, with_meta)}


_ROW = {"alpaca": to_alpaca, "sharegpt": to_sharegpt, "messages": to_messages}


def _write_rows(rows: list[dict[str, Any]], out: Path) -> None:
    suffix = out.suffix.lower()
    if out.is_dir():
        raise UserError(f"--out {out}: is a folder; give a file path ending in .json or .jsonl")
    if suffix == ".jsonl":
        atomic_write_jsonl(out, rows)
    elif suffix == ".json":
        atomic_write_text(out, json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    else:
        raise UserError(f"--out {out}: use a .json (one list) or .jsonl (one row per line) file name")


def check_export_out(fmt: str, out: str | Path) -> None:
    """Bad ``--format`` or ``--out`` as one line (exit 2) before any input is read or anything written."""
    from instructkit.run_contract import check_out_dir, check_out_file

    out = Path(out)
    if fmt not in FORMATS:
        raise UserError(f"--format '{fmt}' not understood; use {', '.join(FORMATS)}")
    if fmt == "hf":
        check_out_dir(out)
        return
    if out.is_dir():
        raise UserError(f"--out {out}: is a folder; give a file path ending in .json or .jsonl")
    if out.suffix.lower() not in (".json", ".jsonl"):
        raise UserError(f"--out {out}: use a .json (one list) or .jsonl (one row per line) file name")
    check_out_file(out)


def export_examples(examples: Sequence[Example], fmt: str, out: str | Path, system: str | None = None,
                    with_meta: bool = True, name: str | None = None, source: str | None = None) -> Path:
    """Write ``examples`` as ``fmt`` to ``out``; returns the path written."""
    out = Path(out)
    check_export_out(fmt, out)
    if not examples:
        raise UserError("nothing to export: the input holds no examples")
    if fmt == "hf":
        return export_hf(examples, out, system=system, name=name, source=source)
    convert = _ROW[fmt]
    _write_rows([convert(ex, with_meta=with_meta, system=system) for ex in examples], out)
    return out


def export_hf(examples: Sequence[Example], out: Path, system: str | None = None, name: str | None = None,
              source: str | None = None) -> Path:
    """HF dataset folder: ``save_to_disk`` files, ``data/train.parquet`` and ``README.md``.

    Built in a temp folder next to ``out`` and moved into place, so ``out`` is never half-written.
    An existing ``out`` is replaced only when it is empty or an earlier hf export.
    """
    try:
        import datasets
    except ImportError:
        raise UserError("the hf format needs: pip install 'instructkit[hf]'") from None
    from instructkit.export_card import dataset_card

    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "state.json").exists())):
        raise UserError(f"--out {out}: exists and is not an earlier hf export; choose a new folder")
    if system:
        examples = [ex if ex.meta.get("system") else
                    Example(ex.instruction, ex.input, ex.output, {**ex.meta, "system": system}, ex.id)
                    for ex in examples]
    cols: dict[str, list[str]] = {"id": [], "instruction": [], "input": [], "output": [], "meta": []}
    for ex in examples:
        for k, v in to_alpaca(ex).items():
            cols[k].append(v)
    datasets.disable_progress_bars()  # our own summary says what was written
    features = datasets.Features({k: datasets.Value("string") for k in cols})
    ds = datasets.Dataset.from_dict(cols, features=features)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        ds.save_to_disk(str(tmp))
        (tmp / "data").mkdir()
        ds.to_parquet(str(tmp / "data" / "train.parquet"))
        (tmp / "README.md").write_text(dataset_card(examples, name or out.name, source), encoding="utf-8")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return out
