"""A run's status as the command's exit code: the one mapping every command uses.

======== ==== ===========================================================================
status   exit meaning
======== ==== ===========================================================================
complete 0    everything done
partial  3    some items failed on model errors; re-running the same command retries them
failed   1    nothing usable was produced (every item failed on model errors, or a crash)
stopped  130  interrupted (Ctrl-C); re-running the same command resumes
stopped  3    at a budget (``manifest.stopped: budget``: --max-cost, --max-tokens-total, --max-calls):
              not finished, like partial; re-running with a larger budget continues
======== ==== ===========================================================================

Bad input is exit code 2 (a ``UserError``), raised before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping

import typer

# "stopped" reaches here only from a budget (Ctrl-C ends in cli.main with 130 before any status is read)
EXIT_CODES = {"complete": 0, "partial": 3, "failed": 1, "stopped": 3, "interrupted": 130}


def failure_words(failed: int, total: int | None, noun: str, kinds: Mapping[str, int] | None = None) -> str:
    """``"2 of 5 datasets failed on model errors (server 2)"``; items a budget refused (kind ``budget``)
    are said apart: they did not fail, the run stopped before them.

    >>> failure_words(2, 5, "datasets", {"server": 2})
    '2 of 5 datasets failed on model errors (server 2)'
    >>> failure_words(3, 5, "tasks", {"server": 1, "budget": 2})
    '1 of 5 tasks failed on model errors (server 1); 2 of 5 tasks not done: the budget refused them (raise --max-cost or --max-tokens-total to continue)'
    >>> failure_words(1, None, "node(s)", {"budget": 1})
    '1 node(s) not done: the budget refused them (raise --max-cost or --max-tokens-total to continue)'
    """
    kinds = dict(kinds or {})
    refused = int(kinds.pop("budget", 0) or 0)
    errors = failed - refused
    of = f" of {total}" if total is not None else ""
    why = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()) if v)
    parts = []
    if errors > 0 or not refused:
        parts.append(f"{errors}{of} {noun} failed on model errors" + (f" ({why})" if why else ""))
    if refused:
        parts.append(f"{refused}{of} {noun} not done: the budget refused them "
                     "(raise --max-cost or --max-tokens-total to continue)")
    return "; ".join(parts)


def exit_for_status(status: str, detail: str = "") -> None:
    """Say in words what a status that is not ``complete`` means, on stderr, and exit with its code."""
    code = EXIT_CODES.get(status, 1)
    if code == 0:
        return
    what = f": {detail}" if detail else ""
    if status == "partial":
        typer.echo(f"partial{what}; re-run the same command to retry them", err=True)
    elif status == "failed":
        typer.echo(f"failed{what}; nothing usable was written; fix the cause and re-run", err=True)
    else:
        typer.echo(f"stopped{what}; re-run the same command to resume", err=True)
    raise typer.Exit(code)
