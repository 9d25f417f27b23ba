"""``instructkit select qdit``. Filled in by the QDIT work."""

from __future__ import annotations

import typer


def register_select(select_app: typer.Typer) -> None:
    return None
