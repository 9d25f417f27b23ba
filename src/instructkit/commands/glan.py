"""CLI commands for glan (see its issue). Filled in by the glan work."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None
