"""CLI commands for active (see its issue). Filled in by the active work."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None


def register_select(select_app: typer.Typer) -> None:
    return None
