"""Options and helpers shared by every command (so flags mean the same thing everywhere)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from instructkit.llm import LLM
    from instructkit.runs import RunDir

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model spec: local | local:/path.gguf | "
                                       "openai:MODEL | openai:MODEL@http://host:port/v1 | hf:embedded | hf:PATH")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output (run) directory; re-running resumes it.")]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", "-c", min=1,
                                             help="Most model calls in flight at once.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")]
OptionalPath = Optional[Path]


def setup(quiet: bool = False) -> None:
    from instructkit import ui

    ui.set_quiet(quiet)


def open_llm(spec: str, run: "RunDir | None" = None, concurrency: int = 8) -> "LLM":
    """The model behind the door, caching into the run directory's cache when there is one.

    A resumed run adds to the usage the manifest already holds.
    """
    from instructkit.llm import open_model
    from instructkit.llm.usage import UsageLedger

    ledger = UsageLedger()
    return open_model(spec, cache=run.cache_path if run is not None else None, ledger=ledger,
                      concurrency=concurrency)


ExecutorOpt = Annotated[str, typer.Option(
    "--executor", help="Where the heavy work runs: local (this process) or ray (a Ray cluster; "
                       "pip install 'instructkit[ray]'). Same outputs either way.")]
RayAddressOpt = Annotated[Optional[str], typer.Option(
    "--ray-address", help="With --executor ray: the cluster to join (auto, HOST:PORT or "
                          "ray://HOST:PORT); default: start a Ray on this machine.")]


def open_executor(kind: str = "local", address: str | None = None):
    """The executor named by ``--executor`` / ``--ray-address`` (Ray is imported only for ``ray``)."""
    from instructkit.executor import get_executor

    return get_executor(kind, address)
