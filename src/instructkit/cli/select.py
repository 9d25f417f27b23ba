"""``instructkit select ...``: the selection methods as subcommands (qdit, active)."""

from __future__ import annotations

import typer

select_app = typer.Typer(help="Select a subset: by quality and diversity (qdit) or prompt sensitivity (active).",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from instructkit.cli import active, qdit

    qdit.register_select(select_app)
    active.register_select(select_app)
    app.add_typer(select_app, name="select")
