"""``instructkit inspect RUN_DIR``: a run directory shows its records, not a merged "dataset".

A folder with a ``manifest.json`` is a run directory written by an instructkit command. Its records
are the file the manifest names (``outputs.examples``, or the older top-level ``examples`` key);
when it names none, every JSONL output is listed with its record count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from instructkit.errors import UserError

_CELL = 100  # characters of a value shown in the records table
_EXAMPLE_COLUMNS = ("id", "instruction", "input", "output")


def is_run_dir(source: str) -> bool:
    path = Path(source)
    return path.is_dir() and (path / "manifest.json").is_file()


def read_manifest(run: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{run / 'manifest.json'}: not valid JSON ({e}); is this an instructkit run directory?") from None
    if not isinstance(manifest, dict):
        raise UserError(f"{run / 'manifest.json'}: expected a JSON object")
    return manifest


def examples_file(run: Path, manifest: dict[str, Any]) -> Path | None:
    """The records file the manifest names: ``outputs.examples`` first, then the older ``examples`` key."""
    outputs = manifest.get("outputs")
    for name in ((outputs or {}).get("examples") if isinstance(outputs, dict) else None, manifest.get("examples")):
        if isinstance(name, str) and name and (run / name).is_file():
            return run / name
    return None


def _records(path: Path, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The first ``limit`` records of a JSONL file and the number of records in it."""
    from instructkit.runs import read_jsonl

    shown: list[dict[str, Any]] = []
    count = 0
    for record in read_jsonl(path):
        if len(shown) < limit:
            shown.append(record)
        count += 1
    return shown, count


def _jsonl_counts(run: Path) -> dict[str, int]:
    return {p.name: _records(p, 0)[1] for p in sorted(run.glob("*.jsonl"))}


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def show_run_dir(source: str, rows: int, as_json: bool) -> None:
    """Print a run directory's records (or its JSONL outputs with counts), as a table or JSON."""
    run = Path(source)
    manifest = read_manifest(run)
    records_path = examples_file(run, manifest)
    info: dict[str, Any] = {"run_dir": str(run), "command": manifest.get("command"), "status": manifest.get("status")}
    if records_path is not None:
        shown, count = _records(records_path, rows)
        info.update(examples_file=records_path.name, count=count, rows=shown)
    else:
        info.update(examples_file=None, files=_jsonl_counts(run))
    if as_json:
        typer.echo(json.dumps(info, ensure_ascii=False, indent=2, default=str))
        return
    _print_run_dir(info, rows)


def _print_run_dir(info: dict[str, Any], rows: int) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = Console(soft_wrap=False)
    status = f", status: {info['status']}" if info.get("status") else ""
    out.print(f"[bold]run directory {escape(info['run_dir'])}[/bold]  (command: {escape(str(info['command']))}{status})")
    if info["examples_file"] is None:
        out.print("its manifest names no examples file; JSONL outputs:")
        files = Table(show_header=True)
        files.add_column("file")
        files.add_column("records", justify="right")
        for name, count in info["files"].items():
            files.add_row(escape(name), f"{count:,}")
        out.print(files)
        return
    out.print(f"records: {escape(info['examples_file'])} ({info['count']:,}); first {len(info['rows'])} shown")
    shown = info["rows"]
    if not shown:
        return
    columns = [c for c in _EXAMPLE_COLUMNS if c in shown[0]] or list(shown[0])[:6]
    table = Table(show_lines=True)
    table.add_column("#", justify="right")
    for col in columns:
        table.add_column(escape(col), overflow="fold")
    for i, record in enumerate(shown):
        table.add_row(str(i), *(escape(_cell(record.get(col, ""))) for col in columns))
    out.print(table)
