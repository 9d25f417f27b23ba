"""Open the run directories given on the command line: check each, index it, fail early on bad files."""

from __future__ import annotations

from pathlib import Path

from instructkit.errors import UserError
from instructkit.view.index import RunIndex, iter_lines
from instructkit.view.rundir import RunInfo, load_run


def qdit_pool(run: RunInfo) -> tuple[Path | None, set[str]]:
    """A QDIT run's input pool (config.input, when still readable) and the ids it selected.

    The pool lives outside the run directory; it is read (never served as a file) so the viewer can
    show what QDIT did not pick. A pool that moved is reported in the page, not fatal.
    """
    if not run.command.startswith("select qdit") or "selected" not in run.streams:
        return None, set()
    src = (run.manifest.get("config") or {}).get("input")
    if not isinstance(src, str) or not src:
        return None, set()
    selected = {str(ln.record.get("id")) for ln in iter_lines(run.streams["selected"]) if ln.record}
    return Path(src), selected


def check_tails(run: RunInfo) -> None:
    """A JSONL output whose last line is torn (no newline, not JSON) -> UserError, before any indexing."""
    for name, path in run.streams.items():
        size = path.stat().st_size
        if size == 0:
            continue
        with open(path, "rb") as f:
            f.seek(max(0, size - 1))
            if f.read(1) == b"\n":
                continue
        for ln in iter_lines(path):
            if ln.error and ln.off + ln.length == size:
                raise UserError(f"{run.path}/{path.name}: {ln.error}")


def open_run_index(path: str | Path, strict: bool = True) -> RunIndex:
    """The index of one run directory; ``strict``: a torn or malformed JSONL line is a UserError."""
    run = load_run(path)
    pool, selected = qdit_pool(run)
    idx = RunIndex(run, pool=pool, pool_selected=selected)
    if strict:
        bad = [s for s in idx.streams() if s["error"] and s["name"] != "pool"]
        if bad:
            idx.close()
            raise UserError(f"{run.path}/{bad[0]['error']}")
    return idx


def with_stages(paths: list[Path]) -> list[Path]:
    """The run directories to open: each one given, and after a recipe run (``instructkit run``) its stage
    directories (``01-dynosaur/`` ...), so every stage's pages (tasks, rejected, dedup groups...) are there too."""
    out: list[Path] = []
    for p in paths:
        out.append(p)
        run = load_run(p)
        if run.command != "run":
            continue
        for s in run.manifest.get("stages") or []:
            d = p / s["dir"] if isinstance(s, dict) and isinstance(s.get("dir"), str) else None
            if d is not None and (d / "manifest.json").is_file() and d not in out:
                out.append(d)
    return out
