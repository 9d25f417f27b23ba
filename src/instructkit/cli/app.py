"""The ``instructkit`` command line: a thin layer over the Python API.

Each command group lives in ``instructkit.cli.<name>`` and registers itself on the app;
modules there import only typer at import time, so ``instructkit --help`` stays instant.
App-level options come before the command: ``instructkit --debug dynosaur ...``,
``instructkit --quiet select qdit ...``.
"""

from __future__ import annotations

import sys

import typer

from instructkit.errors import InstructkitError

app = typer.Typer(
    name="instructkit",
    help="Curate instruction-tuning data: grow it from datasets (Dynosaur), synthesize it from a "
         "taxonomy (GLAN), select it for quality and diversity (QDIT) or prompt sensitivity "
         "(Active-IT), clean it and export it for training.",
    # the status contract (cli/outcome.py, docs/concepts/run-directories.md), where scripts look first
    epilog="Exit codes: 0 complete, 3 partial (some items failed on model errors; re-run retries them) or "
           "stopped at a budget, 1 failed (nothing usable), 2 bad input (nothing written), 130 interrupted "
           "(re-run resumes). manifest.json's status says the same in words.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain click help: rich markup read "[default: ...]" in help text as a style tag and ate it, and
    # typed every flag "<bool>"; plain help shows text as written (and imports no rich for --help)
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)

_state = {"debug": False}


@app.callback()
def _app_options(
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="No progress bars, info lines or summaries (warnings and errors still show)."),
    debug: bool = typer.Option(False, "--debug", help="Full tracebacks on errors and DEBUG logging on stderr."),
) -> None:
    # no docstring: typer would show it in place of the app's help
    from instructkit import ui

    ui.set_quiet(quiet)  # every invocation starts from the app-level value (in-process runs too)
    _state["debug"] = debug
    if debug:
        _debug_logging()


def _debug_logging() -> None:
    """instructkit's own loggers at DEBUG on stderr (other libraries' stay at their level)."""
    import logging

    logger = logging.getLogger("instructkit")
    if not any(getattr(h, "_instructkit_debug", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._instructkit_debug = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    from instructkit import __version__

    logger.debug("instructkit %s, python %s", __version__, sys.version.split()[0])


_COMMAND_MODULES = ("chat", "inspect", "dynosaur", "glan", "select", "active", "clean", "train", "eval", "loop",
                    "run", "view", "batches")


def _register_all() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"instructkit.cli.{name}")
        module.register(app)


_register_all()


def _hoist_debug(args: list[str]) -> list[str]:
    """``instructkit CMD ... --debug`` means ``instructkit --debug CMD ...``: commands declared their own
    ``--debug`` before it became an app option, and scripts written then keep working (an alias, no
    per-command declaration). Arguments after a ``--`` separator are left alone."""
    end = args.index("--") if "--" in args else len(args)
    if "--debug" not in args[1:end]:
        return args
    i = args.index("--debug", 1)
    return ["--debug", *args[:i], *args[i + 1:]]


def main(argv: list[str] | None = None) -> None:
    """Entry point: bad input -> one line on stderr and exit code 2 (``instructkit --debug ...`` shows
    the traceback).

    Typer handles usage errors itself (exit 2); our own errors propagate here.
    """
    args = _hoist_debug(list(sys.argv[1:] if argv is None else argv))
    _state["debug"] = False
    try:
        app(args=args, prog_name="instructkit")
    except InstructkitError as e:
        if _state["debug"]:
            raise
        from instructkit.redact import redact

        print(f"error: {redact(str(e))}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        sys.exit(130)
    except SystemExit as e:
        if e.code == 130:  # typer turns Ctrl-C into a silent Exit(130); the run directory says "stopped"
            print("stopped (interrupted); re-run the same command to resume", file=sys.stderr)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
