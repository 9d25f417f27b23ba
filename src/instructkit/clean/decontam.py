"""Benchmark decontamination: drop examples sharing a long word n-gram (or an exact text) with an eval set.

Texts on both sides are normalized (Unicode NFKC, case, punctuation, whitespace) before matching,
so a benchmark item pasted with other spacing or capitalization is still caught. Benchmark texts
shorter than ``ngram`` words have no n-gram; they match when an example field equals them exactly
after normalization (if at least ``min_exact_chars`` long, so answers like "A" or "42" don't).

>>> from instructkit.records import Example
>>> bench = [("quiz.jsonl", 0, "question", "What is the capital city of France and why?")]
>>> res = decontaminate_texts([Example("what is the CAPITAL city of france and why")], bench,
...                           DecontamConfig(ngram=5))
>>> res.hits[0][0]["benchmark"]
'quiz.jsonl'
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from instructkit import ui
from instructkit.clean.text import EXAMPLE_FIELDS, ngram_hashes, normalize_many, word_tokens
from instructkit.errors import UserError
from instructkit.records import Example

_ID_KEYS = ("id", "idx", "uid", "uuid", "question_id", "task_id", "qid", "row_id")
MAX_HITS = 5  # collisions reported per example (the count of all is kept)


@dataclass
class DecontamConfig:
    ngram: int = 13
    fields: list[str] = field(default_factory=lambda: list(EXAMPLE_FIELDS))
    bench_fields: list[str] | None = None   # None: every text column of the benchmark
    min_exact_chars: int = 20


@dataclass
class DecontamResult:
    """``hits[i]``: collisions of example i (empty list = clean)."""

    hits: list[list[dict[str, Any]]]
    benchmarks: dict[str, int]   # benchmark name -> rows read
    bench_texts: int

    @property
    def contaminated(self) -> list[int]:
        return [i for i, h in enumerate(self.hits) if h]


BenchText = tuple[str, int, str, str]  # (benchmark name, row index, column, text)


def _texts_in(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if value.strip():
            yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _texts_in(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _texts_in(v, path)


def bench_texts(paths: Sequence[str | Path], fields: Sequence[str] | None = None) -> tuple[list[BenchText], dict[str, int], dict[str, Any]]:
    """Every text of every benchmark row: (name, row, column, text); names are file/folder names."""
    from instructkit.io import iter_rows
    from instructkit.rowcheck import plain

    out: list[BenchText] = []
    rows_per: dict[str, int] = {}
    row_ids: dict[str, Any] = {}
    names = [Path(p).name for p in paths]
    for p, name in zip(paths, names):
        if names.count(name) > 1:  # two test.jsonl in different folders: keep them apart
            name = f"{Path(p).parent.name}/{name}"
        if name in rows_per:
            raise UserError(f"--against {p}: given twice")
        n_rows, matched = 0, 0
        for r, (where, row) in enumerate(iter_rows(p)):
            row = plain(row, where, "", row)  # broken text or runaway nesting: one line naming the row
            n_rows += 1
            rid = next((row[k] for k in _ID_KEYS if k in row and isinstance(row[k], (str, int))), None)
            if rid is not None:
                row_ids[f"{name}\x00{r}"] = rid
            keys = fields if fields else [k for k in row if k not in _ID_KEYS]
            found = False
            for k in keys:
                if k in row:
                    for col, text in _texts_in(row[k], k):
                        out.append((name, r, col, text))
                        found = True
            matched += found
        if n_rows == 0:
            raise UserError(f"--against {p}: holds no rows")
        if matched == 0:
            what = f"columns {', '.join(fields)}" if fields else "text columns"
            raise UserError(f"--against {p}: no row has {what}; pass --bench-fields with its column names")
        rows_per[name] = n_rows
    return out, rows_per, row_ids


def decontaminate_texts(examples: Sequence[Example], bench: Sequence[BenchText],
                        config: DecontamConfig | None = None,
                        row_ids: dict[str, Any] | None = None) -> DecontamResult:
    """Match ``examples`` against benchmark texts (see the module docstring for the rule)."""
    cfg = config or DecontamConfig()
    n = cfg.ngram
    vocab: dict[str, int] = {}
    norm_bench = normalize_many([t for *_, t in bench])
    exact: dict[str, int] = {}
    short = []
    for k, t in enumerate(norm_bench):
        if t.count(" ") + 1 < n and len(t) >= cfg.min_exact_chars:
            exact.setdefault(t, k)
            short.append(k)
    tokens, offsets = word_tokens(norm_bench, vocab)
    bh, bowner = ngram_hashes(tokens, offsets, n, short_as_one=False)
    table, first = np.unique(bh, return_index=True)  # each n-gram -> its first benchmark text
    table_src = bowner[first]

    hits: list[list[dict[str, Any]]] = [[] for _ in examples]
    seen: list[set[tuple[str, int]]] = [set() for _ in examples]
    counts = np.zeros(len(examples), dtype=np.int64)

    def add(i: int, k: int, ex_field: str, kind: str, matched: str) -> None:
        name, row, col, _ = bench[k]
        if (name, row) in seen[i]:
            return
        seen[i].add((name, row))
        if len(hits[i]) < MAX_HITS:
            h = {"benchmark": name, "row": row, "bench_field": col, "field": ex_field, "match": kind,
                 "text": matched}
            rid = (row_ids or {}).get(f"{name}\x00{row}")
            if rid is not None:
                h["row_id"] = rid
            hits[i].append(h)

    with ui.progress("decontaminating", total=len(cfg.fields) * len(examples)) as bar:
        for f in cfg.fields:
            norm = normalize_many([getattr(ex, f) for ex in examples])
            for i, t in enumerate(norm):
                k = exact.get(t)
                if k is not None:
                    add(i, k, f, "exact", t)
            etok, eoff = word_tokens(norm, vocab)
            eh, eowner, epos = ngram_hashes(etok, eoff, n, short_as_one=False, with_positions=True)
            if len(table) and len(eh):
                at = np.minimum(np.searchsorted(table, eh), len(table) - 1)
                hit = np.flatnonzero(table[at] == eh)
                np.add.at(counts, eowner[hit], 1)
                for h in hit.tolist():
                    i, k = int(eowner[h]), int(table_src[at[h]])
                    if len(hits[i]) < MAX_HITS and (bench[k][0], bench[k][1]) not in seen[i]:
                        ws = norm[i].split()
                        add(i, k, f, "ngram", " ".join(ws[epos[h]:epos[h] + n]))
            bar.advance(len(examples))
    for i, c in enumerate(counts.tolist()):
        if hits[i]:
            hits[i][0]["shared_ngrams"] = c
    return DecontamResult(hits=hits, benchmarks={}, bench_texts=len(bench))


def decontaminate(examples: Sequence[Example], against: Sequence[str | Path],
                  config: DecontamConfig | None = None) -> DecontamResult:
    """Read the benchmark files ``against`` and match ``examples`` against them."""
    cfg = config or DecontamConfig()
    if not against:
        raise UserError("--against: give at least one evaluation set (file or HF dataset folder)")
    if cfg.ngram < 1:
        raise UserError("--ngram must be at least 1")
    bench, rows_per, row_ids = bench_texts(against, cfg.bench_fields)
    result = decontaminate_texts(examples, bench, cfg, row_ids)
    result.benchmarks = rows_per
    return result


def write_decontam(examples: Sequence[Example], result: DecontamResult, out: str | Path,
                   config: DecontamConfig, argv: list[str] | None = None, bad_rows: Sequence[Any] = ()) -> dict[str, Any]:
    """``clean.jsonl``, ``contaminated.jsonl`` (example + ``contamination`` details), ``manifest.json``;
    ``bad_rows`` (skipped input rows) go to ``rejected.jsonl``."""
    from instructkit.rowcheck import reject_bad_rows
    from instructkit.runs import RunDir, atomic_write_jsonl

    with RunDir(out, command="decontaminate", config=asdict(config), argv=argv) as run:
        n_bad = reject_bad_rows(run, list(bad_rows))
        bad = set(result.contaminated)
        atomic_write_jsonl(run.path / "clean.jsonl",
                           (ex.to_dict() for i, ex in enumerate(examples) if i not in bad))
        atomic_write_jsonl(run.path / "contaminated.jsonl",
                           ({**examples[i].to_dict(), "contamination": result.hits[i]} for i in sorted(bad)))
        per: dict[str, int] = {name: 0 for name in result.benchmarks}
        by_kind = {"exact": 0, "ngram": 0}
        for i in bad:
            for name in {h["benchmark"] for h in result.hits[i]}:
                per[name] += 1
            by_kind[result.hits[i][0]["match"]] += 1
        counts = {"input": len(examples), "clean": len(examples) - len(bad), "contaminated": len(bad),
                  "per_benchmark": per, "by_first_match": by_kind,
                  "benchmark_rows": sum(result.benchmarks.values()), "benchmark_texts": result.bench_texts,
                  "bad_rows": n_bad}
        run.finish(outputs={"examples": "clean.jsonl", "clean": "clean.jsonl", "contaminated": "contaminated.jsonl"},
                   counts=counts, benchmarks=result.benchmarks)
    return counts
