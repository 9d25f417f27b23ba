"""``instructkit view RUN_DIR [RUN_DIR ...]``: look at what a run made, in a local web page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import QuietOpt, setup


def register(app: typer.Typer) -> None:
    @app.command("view")
    def view(
        run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (the --out of any instructkit "
                                                       "command); give two to compare them.")],
        port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535,
                                          help="Port to serve on (0: any free port).")] = 8765,
        host: Annotated[str, typer.Option("--host", help="Address to bind; anything but 127.0.0.1/localhost "
                                          "exposes your data to the network.")] = "127.0.0.1",
        html: Annotated[Optional[Path], typer.Option("--html", help="Write one self-contained HTML report "
                                                     "of the first run to this file and exit (no server).")] = None,
        sample: Annotated[int, typer.Option("--sample", min=1, help="Records per file in the --html report.")] = 50,
        quiet: QuietOpt = False,
    ) -> None:
        """Browse run directories in a local web page: overview, records (search, filters), provenance,
        rejected reasons, Dynosaur tasks, the GLAN tree, QDIT and Active-IT maps, dedup groups, and a
        comparison of two runs. Everything is served from 127.0.0.1; the page loads nothing from the internet.

        The JSONL files are indexed once into SQLite under $INSTRUCTKIT_CACHE/view/ (never inside the run
        directory) and re-indexed when they change.

        Example: instructkit view runs/dynosaur-examples

        Example: instructkit view runs/dyno-v1 runs/dyno-v2 --port 8800   (then open /compare)

        Example: instructkit view runs/qdit --html qdit-report.html   (one file, no external references)

        A recipe run (instructkit run ... --out DIR) opens with each of its stages.
        """
        from instructkit import ui
        from instructkit.view.load import check_tails, open_run_index, with_stages
        from instructkit.view.rundir import load_run

        quiet = setup(quiet)
        run_dirs = with_stages(run_dirs) if html is None else run_dirs
        for d in run_dirs:  # every bad input is found before anything is built or served
            check_tails(load_run(d))
        indexes = []
        for d in run_dirs:
            ui.info(f"indexing {d} (once; reused until its files change)")
            indexes.append(open_run_index(d))
        if html is not None:
            from instructkit.view.report import write_report

            n = write_report(indexes[0], html, sample=sample)
            ui.info(f"wrote {html} ({n:,} bytes, self-contained)")
            return
        from instructkit.view.serve import serve

        serve(indexes, host=host, port=port)
