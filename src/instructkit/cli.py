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
    rich_markup_mode="rich",
)

_COMMAND_MODULES = ("chat", "inspect", "dynosaur", "glan", "select", "active", "clean", "train", "eval", "loop",
                    "view")


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
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
