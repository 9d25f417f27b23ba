"""Terminal output: one stderr console, progress bars with tokens and cache hits, --quiet."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from instructkit.llm.usage import UsageLedger

_state = {"quiet": False}
_console = None


def set_quiet(quiet: bool) -> None:
    _state["quiet"] = bool(quiet)


def is_quiet() -> bool:
    return _state["quiet"]


def console():
    """The shared rich console (stderr, so stdout stays clean for data)."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True)
    return _console


def info(message: str) -> None:
    if not is_quiet():
        from instructkit.redact import redact

        console().print(redact(message))


def warn(message: str) -> None:
    """One warning line on stderr; shown under --quiet too (it says something about the data)."""
    from rich.markup import escape

    console().print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


class _Bar:
    def __init__(self, progress: Any, task_id: Any, ledger: "UsageLedger | None"):
        self._p, self._t, self._ledger = progress, task_id, ledger

    def advance(self, n: int = 1, note: str = "") -> None:
        """Move on by ``n``; ``note`` (e.g. a training loss) replaces the ledger figures when given."""
        if self._p is None:
            return
        extra = note
        if self._ledger is not None and not note:
            extra = (f"{self._ledger.total_tokens:,} tok · {self._ledger.calls} calls · "
                     f"{self._ledger.cache_hits} cached")
        self._p.update(self._t, advance=n, extra=extra)

    def set_total(self, total: int | None) -> None:
        if self._p is not None:
            self._p.update(self._t, total=total)


@contextlib.contextmanager
def progress(description: str, total: int | None = None, ledger: "UsageLedger | None" = None) -> Iterator[_Bar]:
    """A progress bar showing counts and, given a ledger, tokens, calls and cache hits."""
    if is_quiet():
        yield _Bar(None, None, None)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[extra]}"), console=console(),
                  transient=False) as p:
        tid = p.add_task(description, total=total, extra="")
        yield _Bar(p, tid, ledger)
