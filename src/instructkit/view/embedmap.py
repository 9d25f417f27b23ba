"""The vectors a QDIT run embedded, read back from the embedding cache (no model is loaded).

``select qdit`` embeds each example's ``--text`` with ``--embedder`` and keeps the vectors in
``$INSTRUCTKIT_CACHE/embeddings.sqlite`` (keyed by embedder identity + text), not in the run
directory. The viewer opens that file read-only and looks up the same keys, so the QDIT map is a
projection of the embeddings QDIT selected on. When any point's vector is not there (another
cache, a cleared cache, an embedder that is not installed), the caller falls back to text.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np

from instructkit.errors import UserError


def cached_vectors(config: dict[str, Any], records: list[dict[str, Any]]) -> tuple[np.ndarray | None, str]:
    """(one row per record, the embedder identity) or (None, why not)."""
    from instructkit.embed import EmbeddingCache, default_cache_dir, resolve_embedder
    from instructkit.records import Example
    from instructkit.select.qdit.run import text_of

    path = default_cache_dir() / "embeddings.sqlite"
    if not path.is_file():
        return None, "no embedding cache here"
    try:
        identity, _ = resolve_embedder(str(config.get("embedder") or "minilm"))
        texts = [text_of(Example.from_dict(r), str(config.get("text") or "instruction")) for r in records]
    except (UserError, KeyError, TypeError, ValueError) as e:
        return None, f"cannot rebuild the embedded texts ({e})"
    keys = [EmbeddingCache.key(identity, t) for t in texts]
    found: dict[bytes, np.ndarray] = {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # read-only: viewing never writes a cache
    try:
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            rows = db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update((bytes(k), np.frombuffer(v, dtype=np.float32)) for k, v in rows)
    except sqlite3.DatabaseError as e:
        return None, f"embedding cache unreadable ({e})"
    finally:
        db.close()
    missing = sum(k not in found for k in keys)
    if missing:
        return None, f"{missing} of {len(keys)} vectors are not in the embedding cache"
    return np.stack([found[k] for k in keys]), identity
