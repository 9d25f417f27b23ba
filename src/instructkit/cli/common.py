"""Options and helpers shared by every command (so flags mean the same thing everywhere)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperCommand

if TYPE_CHECKING:
    from instructkit.llm import LLM, ModelOptions
    from instructkit.runs import RunDir

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model spec: local | local:/path.gguf | "
                                       "openai:MODEL | openai:MODEL@http://host:port/v1 | hf:embedded | hf:PATH")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output (run) directory; re-running resumes it.")]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", "-c", min=1,
                                             help="Most model calls in flight at once.")]
TimeoutOpt = Annotated[Optional[float], typer.Option(
    "--timeout", metavar="SECONDS", show_default=False,
    help="Seconds each attempt of a model call may take, for openai: models (default 120, or "
         "$INSTRUCTKIT_OPENAI_TIMEOUT); ignored by local and hf: models.")]
MaxRetriesOpt = Annotated[Optional[int], typer.Option(
    "--max-retries", metavar="N", show_default=False,
    help="Retries of a failed model call (429, 5xx, timeout, dropped connection), for openai: models "
         "(default 5, or $INSTRUCTKIT_OPENAI_MAX_RETRIES; 0 = one attempt only); "
         "ignored by local and hf: models.")]
SkipBadRowsOpt = Annotated[bool, typer.Option(
    "--skip-bad-rows", help="Leave out input rows that break the record contract (instruction: non-empty "
                            "text; input, output: text) instead of stopping at the first one; each goes to "
                            "rejected.jsonl with its file:line and reason and is counted (bad_rows).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries.")]
OptionalPath = Optional[Path]


def setup(quiet: bool = False) -> bool:
    """Apply a command's ``--quiet``; returns whether output is quiet (``instructkit --quiet CMD`` too)."""
    from instructkit import ui

    if quiet:
        ui.set_quiet(True)
    return ui.is_quiet()


def model_options(timeout: float | None = None, max_retries: int | None = None,
                  concurrency: int = 8) -> "ModelOptions":
    """``--timeout`` / ``--max-retries`` / ``--concurrency`` as :class:`~instructkit.llm.ModelOptions`,
    resolved once here (flag > ``INSTRUCTKIT_OPENAI_TIMEOUT`` / ``_MAX_RETRIES`` > default) and
    checked before anything is written. The options then travel as data to every door the
    command opens (``select active``'s scorer, ``eval``, Ray workers); the environment is not touched.

    >>> model_options(30, 2, concurrency=4)
    ModelOptions(concurrency=4, timeout=30.0, max_retries=2, bad_answer_retries=2)
    """
    from instructkit.llm import ModelOptions
    from instructkit.llm import openai_settings as st

    t = st.check_timeout(timeout, f"--timeout {timeout:g}") if timeout is not None else None
    r = st.check_max_retries(max_retries, f"--max-retries {max_retries}") if max_retries is not None else None
    t, r = st.resolve(t, r)  # a bad environment value fails here, as one line, not at the first model call
    return ModelOptions(concurrency=concurrency, timeout=t, max_retries=r)


def check_model(spec: str) -> None:
    """Check ``--model`` before a run directory is created (see :func:`instructkit.llm.check_spec`)."""
    from instructkit.llm import check_spec

    check_spec(spec)


def open_llm(spec: str, run: "RunDir | None" = None, concurrency: int | None = None, *,
             timeout: float | None = None, max_retries: int | None = None,
             options: "ModelOptions | None" = None) -> "LLM":
    """The model behind the door, caching into the run directory's cache when there is one (a thin
    wrapper of :func:`instructkit.llm.open_model` with a fresh ledger)."""
    from instructkit.llm import open_model
    from instructkit.llm.usage import UsageLedger

    return open_model(spec, cache=run.cache_path if run is not None else None, ledger=UsageLedger(),
                      options=options, concurrency=concurrency, timeout=timeout, max_retries=max_retries)


ExecutorOpt = Annotated[str, typer.Option(
    "--executor", help="Where the heavy work runs: local (this process) or ray (a Ray cluster; "
                       "pip install 'instructkit[ray]'). Same outputs either way.")]
RayAddressOpt = Annotated[Optional[str], typer.Option(
    "--ray-address", help="With --executor ray: the cluster to join (auto, HOST:PORT or "
                          "ray://HOST:PORT); default: start a Ray on this machine.")]


class _AliasedCommand(TyperCommand):
    """A command that also accepts old option names (hidden from --help): see :func:`aliased`."""

    aliases: dict[str, str | None] = {}

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, rename_options(args, self.aliases))


def aliased(aliases: dict[str, str | None]) -> type:
    """A command class for ``@app.command(..., cls=aliased({"--base": "--model"}))``.

    Old names keep working after a rename without showing in --help (one name per meaning across
    commands). ``None`` as the new name moves the option's value to the front of the arguments, for a
    command whose canonical form takes it as its first argument (``eval --model M`` = ``eval M``).
    """
    return type("AliasedCommand", (_AliasedCommand,), {"aliases": dict(aliases)})


def rename_options(args: list[str], aliases: dict[str, str | None]) -> list[str]:
    """``args`` with old option names replaced (``--old V``, ``--old=V``), up to a ``--`` separator.

    >>> rename_options(["a", "--budget=3", "--base", "hf:x"], {"--budget": "--k", "--base": "--model"})
    ['a', '--k=3', '--model', 'hf:x']
    >>> rename_options(["--model", "hf:x", "--tasks", "t.json"], {"--model": None})
    ['hf:x', '--tasks', 't.json']
    """
    out: list[str] = []
    front: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out += args[i:]
            break
        name, eq, value = arg.partition("=")
        if name in aliases and aliases[name] is None:
            if eq:
                front.append(value)
            elif i + 1 < len(args):
                front.append(args[i + 1])
                i += 1
            else:
                out.append(arg)  # no value: let the parser say so
        elif name in aliases:
            out.append(f"{aliases[name]}{eq}{value}")
        else:
            out.append(arg)
        i += 1
    return front + out


def open_executor(kind: str = "local", address: str | None = None):
    """The executor named by ``--executor`` / ``--ray-address`` (Ray is imported only for ``ray``)."""
    from instructkit.executor import get_executor

    return get_executor(kind, address)
