"""Where provider batch jobs are recorded: ``batches.json`` beside the response cache (in a run
directory, the run directory itself).

A batch is recorded, atomically, right after it is created and before it is polled: its id, the
custom_ids (cache keys) it carries, the server it lives on (no credentials) and its last known status.
A process killed while it waits finds its requests here on restart and polls that batch instead of
creating a second one.

>>> import tempfile, pathlib
>>> store = BatchStore(pathlib.Path(tempfile.mkdtemp()) / "batches.json")
>>> store.record("batch_1", status="in_progress", custom_ids=["k1", "k2"], base_url="http://h/v1")
>>> store.live_batch_for("k2"), store.live_batch_for("k3")
('batch_1', None)
>>> store.record("batch_1", status="expired")
>>> store.live_batch_for("k2") is None
True
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from instructkit.errors import UserError

STORE_NAME = "batches.json"
TERMINAL = ("completed", "failed", "expired", "cancelled")
# a batch still worth polling for answers: running, or completed (its answers may not have reached the
# cache). Ours: "lost" (a recorded batch the provider no longer knows), "created" (a ``pending:FILE`` upload
# record whose batch is recorded under its own id), "creating" (an upload whose batch may exist: looked up)
NOT_ADOPTABLE = ("failed", "expired", "cancelled", "cancelling", "lost", "created")


class BatchStore:
    """``{batch_id: {status, custom_ids, base_url, model, created_at, ...}}`` in one JSON file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._by_key: dict[str, str] | None = None

    @classmethod
    def beside(cls, cache_path: str | Path) -> "BatchStore":
        return cls(Path(cache_path).parent / STORE_NAME)

    def load(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UserError(f"{self.path}: cannot read the batch records ({e}); move it aside to start over") from None
        return data if isinstance(data, dict) else {}

    def record(self, record_id: str, **fields: Any) -> None:
        """Create or update one batch's record (atomic: a reader sees the old file or the new one)."""
        from instructkit.runs import atomic_write_json

        with self._lock:
            data = self.load()
            entry = data.setdefault(record_id, {"id": record_id, "recorded_at": time.time()})
            entry.update(fields)
            entry["updated_at"] = time.time()
            atomic_write_json(self.path, data)
            self._by_key = None

    def live_batch_for(self, key: str) -> str | None:
        """The newest recorded batch that carries ``key`` and may still hold its answer, or None."""
        with self._lock:
            if self._by_key is None:
                index: dict[str, str] = {}
                entries = sorted(self.load().values(), key=lambda e: e.get("recorded_at", 0))
                for entry in entries:
                    for k in entry.get("custom_ids", ()):
                        if entry.get("status") in NOT_ADOPTABLE:
                            index.pop(k, None)
                        else:
                            index[k] = entry["id"]
                self._by_key = index
            return self._by_key.get(key)
