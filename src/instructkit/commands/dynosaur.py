"""CLI commands for dynosaur (see its issue). Filled in by the dynosaur work."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None
