"""Run directories: manifest, append-only JSONL outputs, rejected items, resume.

Every command that writes a run directory uses this module, so "resume after kill -9 with no
duplicates and nothing lost" is solved once:

* outputs are JSONL files appended one record per line and flushed as results arrive;
* each record has an ``id``; a stream refuses an id it already holds, so re-running skips work;
* a line torn by a kill mid-write is cut off when the stream is reopened (it was never complete,
  so the work behind it is simply redone);
* ``manifest.json`` and final files are written atomically (temp file + rename);
* one process at a time may hold a run directory (an advisory lock), so two runs cannot interleave.

>>> import tempfile
>>> with RunDir(tempfile.mkdtemp(), command="demo") as run:
...     s = run.stream("items")
...     s.append({"id": "a", "x": 1})
...     s.append({"id": "a", "x": 1})  # already there: skipped
...     len(s)
True
False
1
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import re
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from instructkit import prompts
from instructkit.errors import UserError
from instructkit.redact import redact, register_secret  # noqa: F401 - re-exported (moved to redact.py)
from instructkit.run_contract import (STATUSES, check_out_dir, decide_status, manifest_output,  # noqa: F401
                                      merge_usage, out_error, remove_stale_temp_files, remove_stale_temps_of,
                                      usage_snapshot)


def _json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=False, default=str) + "\n"


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps_of(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


def atomic_write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records as JSONL atomically; returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps_of(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(_json_line(r))
            n += 1
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return n


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Read a JSONL file strictly: a malformed line is a UserError naming file and line."""
    from instructkit.sources.datafiles import parse_json, read_lines

    path = Path(path)
    # lines through the one reader: gzip, decode errors and deep nesting become one-line errors
    for lineno, line in enumerate(read_lines(path), 1):
        if not line.strip():
            continue
        obj = parse_json(line, f"{path}:{lineno}")
        if not isinstance(obj, dict):
            raise UserError(f"{path}:{lineno}: expected a JSON object per line, got {type(obj).__name__}")
        yield obj


class JsonlStream:
    """An append-only JSONL file keyed by ``key`` (default ``id``): resumable and duplicate-free.

    Opening it repairs a torn final line left by a crash, then indexes the ids already written.
    """

    def __init__(self, path: str | Path, key: str = "id", fsync: bool = False):
        self.path = Path(path)
        self.key = key
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._ids: set[str] = set()
        self._repair_and_index()
        self._f = open(self.path, "a", encoding="utf-8")

    def _repair_and_index(self) -> None:
        if not self.path.exists():
            return
        good_end = 0
        with open(self.path, "rb") as f:
            data = f.read()
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl < 0:
                break  # unterminated tail: torn by a crash
            line = data[pos:nl]
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    break  # torn or garbage: everything from here is cut
                if isinstance(obj, dict) and self.key in obj:
                    self._ids.add(str(obj[self.key]))
            pos = nl + 1
            good_end = pos
        if good_end < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(good_end)

    def __contains__(self, item_id: object) -> bool:
        return str(item_id) in self._ids

    def has(self, item_id: object) -> bool:
        return str(item_id) in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def append(self, record: dict[str, Any]) -> bool:
        """Append ``record`` unless its key is already present. Returns True when written."""
        rid = str(record[self.key])
        if rid in self._ids:
            return False
        self._f.write(_json_line(record))
        self._f.flush()
        if self.fsync:
            os.fsync(self._f.fileno())
        self._ids.add(rid)
        return True

    def extend(self, records: Iterable[dict[str, Any]]) -> int:
        return sum(1 for r in records if self.append(r))

    def records(self) -> list[dict[str, Any]]:
        """All records currently in the file (in write order)."""
        self._f.flush()
        if not self.path.exists():
            return []
        return list(read_jsonl(self.path))

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("instructkit", "llama-cpp-python", "openai", "sentence-transformers", "datasets"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


class RunDir:
    """A run directory: ``manifest.json``, JSONL streams, ``rejected.jsonl``, ``cache.sqlite``.

    Use as a context manager and end with :meth:`finish`, which records ``outputs``, ``counts``,
    ``usage`` (all runs) / ``this_run.usage`` and the ``status`` (see :func:`decide_status`). An
    exception on exit records ``failed``, an interrupt ``stopped``. Re-opening the same directory
    resumes: streams keep what they hold, the manifest keeps history.
    """

    def __init__(self, path: str | Path, command: str, config: dict[str, Any] | None = None,
                 argv: list[str] | None = None):
        self.path = Path(path)
        check_out_dir(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock_f = open(self.path / ".lock", "w")
        except OSError as e:
            raise out_error(self.path, e) from None
        try:
            fcntl.flock(self._lock_f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{self.path} is in use by another instructkit run; wait for it or use another --out") from None
        remove_stale_temp_files(self.path)
        self.command = command
        self.manifest: dict[str, Any] = {}
        mpath = self.path / "manifest.json"
        if mpath.exists():
            try:
                self.manifest = json.loads(mpath.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                self.manifest = {}  # only ever written atomically; treat a foreign file as absent
            prev = self.manifest.get("command")
            if prev and prev != command:
                self._unlock()
                raise UserError(f"{self.path} holds a '{prev}' run; use a new --out for '{command}'")
        # usage of the runs before this one (GLAN once kept it under usage_total)
        self.usage_before: dict[str, Any] = dict(self.manifest.get("usage_total")
                                                 or self.manifest.get("usage") or {})
        self.manifest.pop("usage_total", None)
        self.manifest.pop("this_run", None)
        # seconds spent running, summed over the runs (a killed run counts up to its last checkpoint):
        # a resumed run's created..updated span would also count the time nothing ran
        self._t0 = time.monotonic()
        try:
            self._seconds_before = max(0.0, float(self.manifest.get("seconds") or 0))
        except (TypeError, ValueError):
            self._seconds_before = 0.0
        self.manifest.setdefault("command", command)
        self.manifest.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self.manifest["runs"] = int(self.manifest.get("runs", 0)) + 1
        self.manifest["argv"] = redact(list(argv if argv is not None else sys.argv[1:]))
        self.manifest["config"] = redact(config or {})
        self.manifest["versions"] = _versions()
        self.manifest["status"] = "running"
        self._streams: dict[str, JsonlStream] = {}
        self._finished = False
        self._prompts_mark = prompts.mark()  # finish() records the prompt versions asked for since
        try:
            self.save_manifest()
        except OSError as e:
            self._unlock()
            raise out_error(self.path, e) from None

    # -- streams ---------------------------------------------------------------------------
    def stream(self, name: str, key: str = "id") -> JsonlStream:
        """The append-only stream ``<name>.jsonl`` in this directory (opened once, then reused)."""
        if name not in self._streams:
            self._streams[name] = JsonlStream(self.path / f"{name}.jsonl", key=key)
        return self._streams[name]

    def reject(self, item_id: str, reason: str, stage: str = "", **details: Any) -> bool:
        """Record a dropped item with its reason in ``rejected.jsonl`` (idempotent per item+stage+reason)."""
        from instructkit.records import stable_hash

        rec = {"id": stable_hash("rejected", item_id, stage, reason), "item_id": item_id,
               "stage": stage, "reason": redact(reason), **redact(details)}
        return self.stream("rejected").append(rec)

    @property
    def cache_path(self) -> Path:
        return self.path / "cache.sqlite"

    # -- manifest --------------------------------------------------------------------------
    def update(self, **fields: Any) -> None:
        """Merge ``fields`` into the manifest and save it atomically."""
        self.manifest.update(redact(fields))
        self.save_manifest()

    def wall_s(self) -> float:
        """Seconds since this run opened its directory."""
        return round(time.monotonic() - self._t0, 1)

    def save_manifest(self) -> None:
        self.manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.manifest["seconds"] = round(self._seconds_before + self.wall_s(), 1)
        atomic_write_json(self.path / "manifest.json", self.manifest)

    def record_usage(self, usage: Any, **this_run: Any) -> None:
        """Save ``usage`` (this run's ledger or snapshot) as ``this_run.usage`` and, added to the
        earlier runs', as ``usage``; a checkpoint a killed run leaves behind."""
        now = usage_snapshot(usage)
        facts = {**dict(self.manifest.get("this_run") or {}), **redact(this_run), "usage": redact(now)}
        if "wall_s" not in this_run:  # a command may time itself; else: since this run opened its directory
            facts["wall_s"] = self.wall_s()
        self.manifest["this_run"] = facts
        self.manifest["usage"] = redact(merge_usage(self.usage_before, now))
        self.save_manifest()

    def finish(self, *, outputs: dict[str, str] | None = None, counts: dict[str, Any] | None = None,
               usage: Any = None, failed: int = 0, produced: int | None = None, status: str | None = None,
               failed_items: dict[str, Any] | None = None, this_run: dict[str, Any] | None = None,
               **fields: Any) -> str:
        """Record what this run produced and decide its status; returns the status.

        ``outputs``: file names by role (``examples`` is what the next command reads);
        ``failed``: items that failed on model errors and are retried on re-run (``failed_items``
        may name them); ``produced``: usable outputs (default: ``counts["examples"]`` if given,
        else 1 when nothing failed). ``status`` overrides the rule (e.g. ``stopped``).
        ``this_run``: more facts about this run alone; other ``fields`` go to the manifest's top level.
        """
        if produced is None:
            produced = int((counts or {}).get("examples", 0 if failed else 1))
        self.manifest.pop("stopped", None)
        if status is None and failed and (usage_snapshot(usage).get("failures") or {}).get("budget"):
            # items left because a budget (--max-cost, --max-tokens-total, --max-calls) refused their
            # calls are not broken: the run stopped there, and re-running with a larger budget continues
            status = "stopped"
            self.manifest["stopped"] = "budget"
        status = status or decide_status(failed, produced)
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if outputs is not None:
            self.manifest["outputs"] = dict(outputs)
        if counts is not None:
            self.manifest["counts"] = redact(counts)
        self.manifest.update(redact(fields))
        facts = {**(this_run or {}), "failed": int(failed)}
        used = prompts.used_since(self._prompts_mark)
        if used:  # which prompt files (by content version) this run used; resumed runs add theirs
            facts["prompts"] = used
            self.manifest["prompts"] = {**(self.manifest.get("prompts") or {}), **used}
        if failed_items:
            facts["failed_items"] = failed_items
        self.manifest["status"] = status
        self._finished = True
        self.record_usage(usage, **facts)
        return status

    @property
    def status(self) -> str:
        return str(self.manifest.get("status", "running"))

    def _unlock(self) -> None:
        try:
            fcntl.flock(self._lock_f, fcntl.LOCK_UN)
        finally:
            self._lock_f.close()

    def close(self, status: str | None = None) -> None:
        """Save the final status (given, else the one :meth:`finish` decided, else complete) and unlock."""
        self.manifest["status"] = status or (self.status if self._finished else "complete")
        try:
            self.save_manifest()
        finally:
            for s in self._streams.values():
                s.close()
            self._unlock()

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is KeyboardInterrupt:
            self.close("stopped")
        else:  # an error after finish() (which wrote the outputs) keeps the status finish decided
            self.close("failed" if exc_type and not self._finished else None)
