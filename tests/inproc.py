"""Run the ``instructkit`` CLI in this process (fast: no interpreter start, imports shared).

``main`` turns our own errors into one stderr line and an exit code; anything else escapes as
an exception, which is exactly what bad-input tests must never see.
"""

from __future__ import annotations

import io
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run(*args: object) -> Result:
    """``instructkit ARGS`` in-process; an unexpected exception (a traceback) propagates."""
    from instructkit import ui
    from instructkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    ui._console = None  # the rich console binds sys.stderr when made: make it on our buffer
    code = 0
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "1000"  # one message, one line: no wrapping by the console width
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        finally:
            ui._console = None
            if columns is None:
                os.environ.pop("COLUMNS", None)
            else:
                os.environ["COLUMNS"] = columns
    sys.stdout.flush()
    return Result(code, out.getvalue(), err.getvalue())
