"""``instructkit inspect``. Filled in by the sources work."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None
