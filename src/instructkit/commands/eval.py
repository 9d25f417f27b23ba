"""``instructkit eval``: placeholder until evaluate.py lands."""
import typer
def register(app: typer.Typer) -> None:
    pass
