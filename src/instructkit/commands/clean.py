"""CLI commands for clean (see its issue). Filled in by the clean work."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None
