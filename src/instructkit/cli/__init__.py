"""The ``instructkit`` command line, a thin skin over the library: options -> settings -> library call
-> summary. The library never imports this package.

- :mod:`.app`: the typer app, its app-level ``--quiet`` / ``--debug`` and ``main`` (the console script);
- :mod:`.common`: options and helpers shared by every command (so a flag means the same everywhere);
- one module per command group (``dynosaur``, ``glan``, ``select`` with ``qdit`` and ``active``, ``clean``,
  ``train``, ``eval``, ``loop``, ``run``, ``view``, ``inspect``, ``chat``), each with ``register(app)``.
"""

from instructkit.cli.app import app, main

__all__ = ["app", "main"]
