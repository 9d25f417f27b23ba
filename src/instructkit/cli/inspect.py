"""``instructkit inspect SOURCE``: show what instructkit sees in a dataset (its DatasetCard)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from instructkit.cli.common import QuietOpt, setup

if TYPE_CHECKING:
    from instructkit.sources.card import DatasetCard

_CELL = 120  # characters of a value shown in the rows table


def register(app: typer.Typer) -> None:
    @app.command("inspect")
    def inspect(
        source: Annotated[str, typer.Argument(
            help="A dataset folder (README.md card + data files), a .jsonl/.csv/.parquet file, "
                 "or a Hugging Face dataset name.")],
        rows: Annotated[int, typer.Option("--rows", "-n", min=0, help="First rows to show.")] = 5,
        config: Annotated[Optional[str], typer.Option(help="Only this config (default: all).")] = None,
        split: Annotated[Optional[str], typer.Option(help="Split to read rows from (default: train, "
                                                     "else the first).")] = None,
        description: Annotated[Optional[str], typer.Option(
            help="Description to use instead of the card's (for a bare data file).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, one object per config.")] = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Print the DatasetCard of SOURCE: name, config, splits, license, description, the fields with
        their types, ClassLabel names and whether they can be used as text, and the first rows.

        A SOURCE is a dataset folder with a README.md card, a .jsonl/.csv/.parquet file (with an optional sidecar FILE.md or FILE.description.txt) or a Hugging Face dataset name.

        Example: instructkit inspect examples/news_topics --rows 3

        Example: instructkit inspect reviews.csv --description "Hotel reviews with a 1-5 star rating."

        Example: instructkit inspect ag_news --json   (needs the network or the local HF cache)

        A run directory (a folder with manifest.json) shows its records instead: the examples file its
        manifest names, or its JSONL outputs with their counts.

        Example: instructkit inspect runs/dedup --rows 3
        """
        from instructkit.cli.inspect_run import is_run_dir, show_run_dir
        from instructkit.sources import load_source

        quiet = setup(quiet)
        if is_run_dir(source):  # a run directory shows its records, not a merged "dataset"
            return show_run_dir(source, rows, as_json)
        cards = load_source(source, config=config, split=split, rows=rows, description=description)
        if as_json:
            typer.echo(json.dumps([c.to_dict(max_rows=rows) for c in cards], ensure_ascii=False, indent=2,
                                  default=_json_default))
            return
        from rich.console import Console

        out = Console(soft_wrap=False)
        for card in cards:
            print_card(card, rows, out)


def _json_default(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return f"<{len(v)} bytes>"
    return str(v)


def _cell(value: Any, feature: Any = None) -> str:
    if feature is not None:
        if feature.dtype == "list<ClassLabel>" and isinstance(value, list):
            value = [feature.label_name(v) for v in value]
        elif feature.is_classlabel and isinstance(value, int):
            value = f"{value} ({feature.label_name(value)})"
    if isinstance(value, (bytes, bytearray)):
        text = f"<{len(value)} bytes>"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=_json_default)
    text = " ".join(text.split())
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def print_card(card: "DatasetCard", rows: int, out: Any) -> None:
    """Render one card with rich: a header, the description, a fields table and a rows table."""
    from rich.markup import escape
    from rich.table import Table

    title = card.name + (f" [{card.config}]" if card.config else "")
    out.print(f"[bold]{escape(title)}[/bold]" + (f"  ({escape(card.pretty_name)})" if card.pretty_name else ""))
    splits = ", ".join(f"[bold]{s}[/bold]" if s == card.split else s for s in card.splits)
    n = f"{card.num_rows:,} rows" if card.num_rows is not None else "rows: unknown"
    out.print(f"source: {escape(card.source)}   config: {escape(card.config or 'default')}   "
              f"splits: {splits} ({card.split}: {n})   license: {escape(card.license or 'unknown')}")
    out.print(escape(card.description) if card.description else "[dim](no description)[/dim]")
    fields = Table(title="fields", title_justify="left", show_lines=False)
    for col in ("field", "type", "labels", "usable"):
        fields.add_column(col)
    for f in card.features:
        labels = ", ".join(f.label_names) if f.label_names else ""
        fields.add_row(escape(f.name), escape(f.dtype), escape(labels),
                       "yes" if f.usable else f"[red]no[/red]: {escape(f.reason or '')}")
    out.print(fields)
    shown = card.rows[:rows]
    if shown:
        table = Table(title=f"first {len(shown)} rows of {card.split}", title_justify="left", show_lines=True)
        table.add_column("#", justify="right")
        for f in card.features:
            table.add_column(escape(f.name), overflow="fold")
        for i, row in enumerate(shown):
            table.add_row(str(i), *(escape(_cell(row.get(f.name), f)) for f in card.features))
        out.print(table)
    out.print()
