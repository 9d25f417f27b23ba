"""Deduplicate examples: exact (normalized text), near (MinHash LSH) or semantic (embeddings).

Every method produces similar pairs, union-find turns them into groups, and each group keeps one
representative: the highest quality (``meta.quality``/``meta.score`` or ``--quality-field``) and,
on ties or without quality, the first in input order. The result does not depend on pair order.

>>> from instructkit.records import Example
>>> exs = [Example("Say hi."), Example("say  HI!"), Example("Count to three.")]
>>> [exs[i].instruction for i in dedup(exs, DedupConfig(method="exact")).kept]
['Say hi.', 'Count to three.']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from instructkit import ui
from instructkit.clean.groups import components, quality_scores, representatives
from instructkit.clean.text import EXAMPLE_FIELDS, example_text, normalize_many
from instructkit.errors import UserError
from instructkit.records import Example, stable_hash

METHODS = ("exact", "minhash", "semantic")
DEFAULT_THRESHOLD = {"exact": 1.0, "minhash": 0.7, "semantic": 0.9}
# LSH bands/rows weigh a missed duplicate above a spurious candidate: every candidate is verified
# against the threshold afterwards, so a false candidate costs a comparison, never a wrong merge
LSH_FN_WEIGHT = 0.8


@dataclass
class DedupConfig:
    """How to deduplicate. ``threshold`` None = the method's default (minhash 0.7, semantic 0.9)."""

    method: str = "minhash"
    threshold: float | None = None
    fields: list[str] = field(default_factory=lambda: list(EXAMPLE_FIELDS))
    num_perm: int = 128
    shingle: str = "word:3"
    bands: int | None = None
    rows: int | None = None
    verify: str = "estimate"  # estimate (signature agreement) | exact (true shingle-set Jaccard)
    embedder: str = "minilm"
    quality_field: str | None = None
    seed: int = 1
    # minhash: "each" = a pair is a duplicate only when every field in ``fields`` is similar on its own
    # (Dynosaur rows share their task's instruction; joined, that instruction outweighs a different
    # input and output and 35% of a real run was dropped); "joined" = the fields as one text
    field_match: str = "each"

    def validate(self) -> None:
        if self.method not in METHODS:
            raise UserError(f"--method '{self.method}' not understood; use {', '.join(METHODS)}")
        if self.threshold is None:
            self.threshold = DEFAULT_THRESHOLD[self.method]
        if not 0.0 < self.threshold <= 1.0:
            raise UserError(f"--threshold {self.threshold}: must be in (0, 1]")
        if self.field_match not in ("each", "joined"):
            raise UserError(f"--field-match '{self.field_match}' not understood; use each or joined")
        if self.verify not in ("estimate", "exact"):
            raise UserError(f"--verify '{self.verify}' not understood; use estimate or exact")
        if (self.bands is None) != (self.rows is None):
            raise UserError("--lsh-bands and --lsh-rows go together; give both or neither (then they follow --threshold)")
        if self.bands is not None and (self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm):
            raise UserError(f"--lsh-bands {self.bands} × --lsh-rows {self.rows} must be ≥ 1 and at most --num-perm {self.num_perm}")
        if self.method == "minhash":  # a bad --shingle fails here, before anything is written
            from instructkit.clean.minhash import parse_shingle

            parse_shingle(self.shingle)


@dataclass
class DedupResult:
    """Per input example: its group label (smallest member index), kept representative and similarity."""

    labels: np.ndarray
    rep: np.ndarray
    similarity: np.ndarray   # similarity of each example to its representative (1.0 for the rep)
    info: dict[str, Any]

    @property
    def kept(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(self.rep == np.arange(len(self.rep)))]

    @property
    def dropped(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(self.rep != np.arange(len(self.rep)))]

    def groups(self) -> list[list[int]]:
        """Groups with at least two members, members in input order, groups by first member."""
        out: dict[int, list[int]] = {}
        for i, lab in enumerate(self.labels.tolist()):
            out.setdefault(lab, []).append(i)
        return [m for m in out.values() if len(m) > 1]


def _exact_pairs(texts: list[list[str]]) -> np.ndarray:
    first: dict[tuple[str, ...], int] = {}
    pairs = []
    for i, key in enumerate(map(tuple, texts)):
        j = first.setdefault(key, i)
        if j != i:
            pairs.append((j, i))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _minhash_pairs(texts: list[str], cfg: DedupConfig) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    from instructkit.clean import minhash as mh

    unit, n = mh.parse_shingle(cfg.shingle)
    bands, rows = (cfg.bands, cfg.rows) if cfg.bands else mh.lsh_params(cfg.threshold, cfg.num_perm, fn_weight=LSH_FN_WEIGHT)
    hashes, owner = mh.shingle_hashes(texts, unit, n)
    hasher = mh.MinHasher(cfg.num_perm, seed=cfg.seed)
    with ui.progress("minhash signatures", total=len(texts)) as bar:
        sig = hasher.signatures(hashes, owner, len(texts), advance=bar.advance)
    cand = mh.candidate_pairs(sig, bands, rows)
    if cfg.verify == "exact":
        sim = mh.exact_jaccard(hashes, owner, len(texts), cand)
    else:
        sim = mh.estimated_jaccard(sig, cand)
    ok = sim >= cfg.threshold - 1e-12
    info = {"bands": bands, "rows": rows, "shingle": f"{unit}:{n}", "num_perm": cfg.num_perm,
            "candidate_pairs": int(len(cand)), "verified_pairs": int(ok.sum()), "verify": cfg.verify}

    def to_rep(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        pairs = np.stack([i, j], axis=1)
        if cfg.verify == "exact":
            return mh.exact_jaccard(hashes, owner, len(texts), pairs)
        return mh.estimated_jaccard(sig, pairs)

    info["_to_rep"] = to_rep
    return cand[ok], sim[ok], info


def _semantic_pairs(texts: list[str], cfg: DedupConfig) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    from instructkit.clean.semantic import similar_pairs
    from instructkit.embed import embed_texts

    vecs = []
    with ui.progress(f"embedding ({cfg.embedder})", total=len(texts)) as bar:
        for s in range(0, len(texts), 1024):
            vecs.append(embed_texts(texts[s:s + 1024], embedder=cfg.embedder))
            bar.advance(len(texts[s:s + 1024]))
    x = np.concatenate(vecs) if vecs else np.zeros((0, 384), dtype=np.float32)
    with ui.progress("similarity search", total=len(texts)) as bar:
        found = similar_pairs(x, cfg.threshold, seed=cfg.seed, advance=bar.advance)
    info = {"embedder": cfg.embedder, "index": found.index, "similar_pairs": int(len(found.pairs)),
            "_to_rep": lambda i, j: np.einsum("ij,ij->i", x[i], x[j]).astype(np.float64)}
    return found.pairs, found.similarity, info


def field_guard(examples: Sequence[Example], pairs: np.ndarray, cfg: DedupConfig) -> np.ndarray:
    """Which ``pairs`` are similar in every field of ``cfg.fields`` taken alone: exact Jaccard of
    each field's shingle sets ≥ the threshold (two empty fields are equal; one empty is not)."""
    from instructkit.clean import minhash as mh

    keep = np.ones(len(pairs), dtype=bool)
    if len(pairs) == 0:
        return keep
    unit, size = mh.parse_shingle(cfg.shingle)
    rows = np.unique(pairs)                # only the records that are in a pair are shingled again
    local = np.searchsorted(rows, pairs)
    for f in cfg.fields:
        live = np.flatnonzero(keep)
        if not len(live):
            break
        hashes, owner = mh.shingle_hashes([getattr(examples[int(i)], f) for i in rows], unit, size)
        sim = mh.exact_jaccard(hashes, owner, len(rows), local[live])
        keep[live] = sim >= cfg.threshold - 1e-12
    return keep


def pair_finder(executor: Any, method: str) -> Callable[..., Any] | None:
    """The pair finder of ``method`` on ``executor``: None on this process (the built-in one),
    MinHash band bucketing (:mod:`instructkit.clean.ray_minhash`) or semantic pairs over the
    executor's embeddings when the executor runs stages remotely (Ray)."""
    if executor is None or not executor.remote:
        return None
    if method == "minhash":
        from instructkit.clean.ray_minhash import minhash_pairs

        return lambda texts, cfg: minhash_pairs(texts, cfg, workers=executor.workers)
    if method == "semantic":
        return lambda texts, cfg: _semantic_pairs_on(executor, texts, cfg)
    return None


def _semantic_pairs_on(executor: Any, texts: list[str], cfg: DedupConfig
                       ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Semantic pairs from the executor's embeddings (the index search stays on the driver)."""
    from instructkit.clean.semantic import similar_pairs

    x = executor.embed(texts, cfg.embedder)
    found = similar_pairs(x, cfg.threshold, seed=cfg.seed)
    info = {"embedder": cfg.embedder, "index": found.index, "similar_pairs": int(len(found.pairs)),
            "_to_rep": lambda i, j: np.einsum("ij,ij->i", x[i], x[j]).astype(np.float64)}
    return found.pairs, found.similarity, info


def dedup(examples: Sequence[Example], config: DedupConfig | None = None,
          finder: Callable[[list[str], DedupConfig], tuple[np.ndarray, np.ndarray, dict[str, Any]]] | None = None
          ) -> DedupResult:
    """Group duplicates among ``examples`` and pick each group's representative.

    ``finder`` replaces the built-in pair finder of minhash/semantic (a distributed one:
    :func:`pair_finder`); it must return the same pairs for the same texts.
    """
    cfg = config or DedupConfig()
    cfg.validate()
    n = len(examples)
    if cfg.method == "exact":
        cols = [normalize_many([getattr(ex, f) for ex in examples]) for f in cfg.fields]
        pairs = _exact_pairs([list(t) for t in zip(*cols)]) if n else np.zeros((0, 2), dtype=np.int64)
        info: dict[str, Any] = {"_to_rep": lambda i, j: np.ones(len(i))}
    else:
        texts = [example_text(ex, cfg.fields) for ex in examples]
        finder = finder or (_minhash_pairs if cfg.method == "minhash" else _semantic_pairs)
        pairs, _, info = finder(texts, cfg)
        if cfg.method == "minhash" and cfg.field_match == "each" and len(cfg.fields) > 1:
            keep = field_guard(examples, pairs, cfg)
            info["pairs_not_similar_in_every_field"] = int((~keep).sum())
            pairs = pairs[keep]
    labels = components(n, pairs)
    quality, qfield = quality_scores(examples, cfg.quality_field)
    rep = representatives(labels, quality)
    sim = np.ones(n, dtype=np.float64)
    moved = np.flatnonzero(rep != np.arange(n))
    to_rep = info.pop("_to_rep")
    if len(moved):
        sim[moved] = to_rep(moved, rep[moved])
    info.update({"method": cfg.method, "threshold": cfg.threshold, "fields": cfg.fields,
                 "quality_field": qfield})
    return DedupResult(labels=labels, rep=rep, similarity=sim, info=info)


def heavy_drop_warning(counts: dict[str, Any], config: DedupConfig) -> str | None:
    """A one-line warning when a run drops more than half its input, saying what made the groups."""
    if counts["input"] == 0 or 2 * counts["dropped"] <= counts["input"]:
        return None
    pct = 100.0 * counts["dropped"] / counts["input"]
    fields = "+".join(config.fields)
    why = (f"compared on {fields} only, examples that share it are duplicates; add fields (--fields "
           f"instruction,input,output)" if len(config.fields) < len(EXAMPLE_FIELDS) else
           f"fields {fields} matched {'as one text' if config.field_match == 'joined' else 'each'}")
    return (f"dedup dropped {counts['dropped']:,} of {counts['input']:,} examples ({pct:.0f}%), more than half: "
            f"{why}; {config.method} threshold {config.threshold}; largest group {counts['largest_group']}. "
            f"Check groups.jsonl before using kept.jsonl")


def write_dedup(examples: Sequence[Example], result: DedupResult, out: str | Path,
                config: DedupConfig, argv: list[str] | None = None, bad_rows: Sequence[Any] = ()) -> dict[str, Any]:
    """Write ``kept.jsonl``, ``groups.jsonl``, ``dropped.jsonl`` and ``manifest.json`` under ``out``.

    Each file is written atomically, so a killed run leaves the previous complete file or none.
    Returns the counts recorded in the manifest.
    """
    from instructkit.rowcheck import reject_bad_rows
    from instructkit.runs import RunDir, atomic_write_jsonl

    cfg_dict = {k: v for k, v in asdict(config).items()}
    with RunDir(out, command="dedup", config=cfg_dict, argv=argv) as run:
        n_bad = reject_bad_rows(run, list(bad_rows))
        kept = result.kept
        atomic_write_jsonl(run.path / "kept.jsonl", (examples[i].to_dict() for i in kept))
        groups = result.groups()

        def group_rows():
            for members in groups:
                r = int(result.rep[members[0]])
                ids = [examples[i].id for i in members]
                yield {"id": stable_hash("dedup-group", ids, members), "kept_id": examples[r].id,
                       "kept_index": r, "size": len(members), "members": ids, "indices": members,
                       "similarity_to_kept": [round(float(result.similarity[i]), 4) for i in members]}

        atomic_write_jsonl(run.path / "groups.jsonl", group_rows())

        def dropped_rows():
            for i in result.dropped:
                r = int(result.rep[i])
                yield {**examples[i].to_dict(), "index": i, "kept_id": examples[r].id, "kept_index": r,
                       "similarity": round(float(result.similarity[i]), 4), "method": config.method}

        n_dropped = atomic_write_jsonl(run.path / "dropped.jsonl", dropped_rows())
        counts = {"input": len(examples), "kept": len(kept), "dropped": n_dropped, "groups": len(groups),
                  "largest_group": max((len(g) for g in groups), default=1), "bad_rows": n_bad}
        warning = heavy_drop_warning(counts, config)
        run.finish(outputs={"examples": "kept.jsonl", "kept": "kept.jsonl", "groups": "groups.jsonl",
                            "dropped": "dropped.jsonl"}, counts=counts, details=result.info,
                   **({"warnings": [warning]} if warning else {}))
    return counts
