"""``instructkit batches list|cancel``: the provider batch jobs a run directory made (``openai-batch:`` models)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import QuietOpt, setup

batches_app = typer.Typer(help="Provider batch jobs (openai-batch: models): list the ones a run directory "
                               "recorded, cancel one.", no_args_is_help=True)


def _store(run_dir: Path):
    from instructkit.errors import UserError
    from instructkit.llm.batch_store import STORE_NAME, BatchStore

    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a directory; give the --out of a run that used an openai-batch: model")
    store = BatchStore(run_dir / STORE_NAME)
    if not store.path.exists():
        raise UserError(f"{run_dir}: no {STORE_NAME} here (no batch job was created from this run directory)")
    return store


def register(app: typer.Typer) -> None:
    @batches_app.command("list")
    def list_batches(
        run_dir: Annotated[Path, typer.Argument(help="A run directory (the --out of a command run with an "
                                                "openai-batch: model).")],
    ) -> None:
        """List the batch jobs recorded in RUN_DIR: id, last known status, requests, server.

        Example: instructkit batches list runs/glan-batch
        """
        entries = sorted((e for e in _store(run_dir).load().values() if e.get("status") != "created"),
                         key=lambda e: e.get("recorded_at", 0))  # "created": an upload whose batch is listed
        typer.echo(f"{'batch':<36} {'status':<12} {'requests':>8}  server")
        for e in entries:
            typer.echo(f"{e['id']:<36} {e.get('status', '?'):<12} {len(e.get('custom_ids', ())):>8}  "
                       f"{e.get('base_url') or '-'}")

    @batches_app.command("cancel")
    def cancel(
        batch_id: Annotated[str, typer.Argument(help="The batch id (see: instructkit batches list RUN_DIR).")],
        out: Annotated[Optional[Path], typer.Option(
            "--out", "-o", help="The run directory that recorded the batch: its server is used, and the "
                                "record is marked so that re-running creates a new batch.")] = None,
        base_url: Annotated[Optional[str], typer.Option(
            "--base-url", help="The server (default: the one recorded in --out, else $OPENAI_BASE_URL or "
                               "OpenAI). The key is read from $OPENAI_API_KEY.")] = None,
        quiet: QuietOpt = False,
    ) -> None:
        """Cancel a provider batch job (POST /v1/batches/ID/cancel). Its unanswered requests are sent
        again in a new batch when the run that made it is re-run.

        Example: instructkit batches cancel batch_abc123 --out runs/glan-batch
        """
        from instructkit.errors import UserError
        from instructkit.llm.batch import cancel_batch

        setup(quiet)
        store = _store(out) if out is not None else None
        if store is not None and batch_id not in store.load():
            raise UserError(f"{batch_id}: not recorded in {out} (see: instructkit batches list {out})")
        url = base_url or (store.load()[batch_id].get("base_url") if store is not None else None)
        status = cancel_batch(batch_id, url)
        if store is not None:
            store.record(batch_id, status=status)
        typer.echo(f"{batch_id}: {status}")

    app.add_typer(batches_app, name="batches")
