"""The ``instructkit`` command line: a thin layer over the Python API.

Each command group lives in ``instructkit.commands.<name>`` and registers itself on the app;
modules there import only typer at import time, so ``instructkit --help`` stays instant.
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
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain click help: rich markup read "[default: ...]" in help text as a style tag and ate it, and
    # typed every flag "<bool>"; plain help shows text as written (and imports no rich for --help)
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)

_COMMAND_MODULES = ("chat", "inspect", "dynosaur", "glan", "select", "active", "clean", "train", "eval", "loop",
                    "run", "view", "batches")


def _register_all() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"instructkit.commands.{name}")
        module.register(app)


_register_all()


def main(argv: list[str] | None = None) -> None:
    """Entry point: bad input -> one line on stderr and exit code 2 (``--debug`` shows the traceback).

    Typer handles usage errors itself (exit 2); our own errors propagate here.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, prog_name="instructkit")
    except InstructkitError as e:
        if debug:
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
