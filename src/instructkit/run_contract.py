"""The run-directory contract, in one place: the status rule, usage over all runs, the outputs
reader, and the checks of ``--out`` (see ``docs/concepts/run-directories.md``).

:class:`instructkit.runs.RunDir` applies it; commands map a status to an exit code with
:mod:`instructkit.cli.outcome`.
"""

from __future__ import annotations

import glob
import json
import os
import re
from pathlib import Path
from typing import Any

from instructkit.errors import UserError

# status: complete (all done) · partial (some items failed on model errors; a re-run retries them)
# · failed (nothing usable) · stopped (interrupted; a re-run resumes). Old manifests may say
# "interrupted", which means stopped.
STATUSES = ("complete", "partial", "failed", "stopped")
_TMP_NAME = re.compile(r"^\..+\.tmp-(\d+)$")


def decide_status(failed: int, produced: int) -> str:
    """The one rule: nothing failed -> complete; some failed but something usable -> partial; else failed.

    ``failed``: items that failed on model errors (left for a re-run); ``produced``: usable outputs.

    >>> decide_status(0, 0), decide_status(2, 5), decide_status(3, 0)
    ('complete', 'partial', 'failed')
    """
    if failed <= 0:
        return "complete"
    return "partial" if produced > 0 else "failed"


def merge_usage(before: dict[str, Any] | None, now: dict[str, Any]) -> dict[str, Any]:
    """Usage of all runs: a previous manifest's ``usage`` plus this run's ledger snapshot."""
    before = dict(before or {})
    out = dict(now)
    for k, v in now.items():
        b = before.get(k)
        if k == "estimated_cost_usd":
            costs = [c for c in (b, v) if isinstance(c, (int, float))]
            out[k] = round(sum(costs), 6) if costs else None
        elif isinstance(v, bool) or not isinstance(v, (int, float, dict)):
            continue
        elif isinstance(v, (int, float)):
            out[k] = (b if isinstance(b, (int, float)) and not isinstance(b, bool) else 0) + v
        else:  # failures / retries by kind; per_model: {model: {calls, ...}}
            out[k] = _merge_counts(b if isinstance(b, dict) else {}, v)
    for k, b in before.items():  # keys only earlier runs had (e.g. a kind of failure)
        out.setdefault(k, b)
    return out


def _merge_counts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        if isinstance(v, dict):
            out[k] = _merge_counts(out.get(k) if isinstance(out.get(k), dict) else {}, v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            prev = out.get(k)
            out[k] = (prev if isinstance(prev, (int, float)) and not isinstance(prev, bool) else 0) + v
        else:
            out[k] = v
    return out


def usage_snapshot(usage: Any) -> dict[str, Any]:
    """A usage ledger (anything with ``snapshot()``) or a snapshot dict, as a dict."""
    if usage is None:
        return {}
    return dict(usage.snapshot() if hasattr(usage, "snapshot") else usage)


def out_error(path: Path, e: OSError) -> UserError:
    cause = e.strerror or type(e).__name__
    where = f" ({e.filename})" if e.filename and str(e.filename) != str(path) else ""
    return UserError(f"--out {path}: cannot write there: {cause}{where}; choose another path")


def check_out_dir(path: str | Path, shown: str | Path | None = None) -> None:
    """Fail early, as one line, when ``path`` cannot become a run directory; leaves nothing behind.

    Commands call it before loading models or data, so a bad ``--out`` costs nothing: a path
    below a regular file, a read-only or refusing file system (the nearest existing folder is
    probed with a temporary folder, removed at once), a missing mount.
    ``shown``: the path the error names (an output file whose folder ``path`` is).
    """
    import tempfile

    p = Path(path)
    name = shown if shown is not None else p
    if p.exists() and not p.is_dir():
        raise UserError(f"--out {name}: {p} exists and is not a directory; choose another path"
                        if shown is not None else f"--out {p}: exists and is not a directory; choose another path")
    anc = p.absolute()
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise UserError(f"--out {name}: {anc} is a file, not a directory; choose another path")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".instructkit-probe-", dir=anc))
    except OSError as e:
        raise UserError(f"--out {name}: cannot write there: {e.strerror or type(e).__name__} ({anc}); "
                        "choose another path") from None


def check_out_file(path: str | Path) -> None:
    """:func:`check_out_dir` for an output file (``export --out train.jsonl``): its folder must be
    creatable and writable, and the path itself must not be a folder."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"--out {p}: is a folder; give a file path")
    check_out_dir(p.parent, shown=p)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_if_stale(f: Path) -> bool:
    """Delete ``f`` if it is a ``.NAME.tmp-PID`` file whose writing process is gone; True if deleted."""
    m = _TMP_NAME.match(f.name)
    if not (m and f.is_file() and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1)))):
        return False
    try:
        f.unlink()
    except OSError:
        return False
    return True


def remove_stale_temp_files(folder: Path) -> int:
    """Delete ``.NAME.tmp-PID`` files left by an atomic write whose process was killed."""
    return sum(_remove_if_stale(f) for f in folder.rglob(".*.tmp-*"))


def remove_stale_temps_of(path: Path) -> None:
    """Before an atomic write of ``path``: delete its ``.NAME.tmp-PID`` siblings whose writer was killed
    (an output file outside a run directory, ``export --out train.jsonl``, has no run to clean it)."""
    for f in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        _remove_if_stale(f)


def manifest_output(folder: str | Path, key: str = "examples", folders: bool = False) -> Path | None:
    """The file a run directory's manifest names as output ``key`` (``outputs.<key>``), if it exists;
    with ``folders`` also a folder it names (``export --format hf``'s dataset, a trained model).

    Run directories written before the outputs contract named their examples file at the top
    level (``"examples": "kept.jsonl"``); that is read too.
    """
    mpath = Path(folder) / "manifest.json"
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    outputs = manifest.get("outputs") if isinstance(manifest.get("outputs"), dict) else {}
    for name in (outputs.get(key), manifest.get(key) if key == "examples" else None):
        path = Path(folder) / name if isinstance(name, str) and name else None
        if path is not None and (path.is_file() or (folders and path.is_dir())):
            return path
    return None
