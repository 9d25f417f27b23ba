"""Text normalization shared by dedup and decontamination.

Two texts that differ only in Unicode form, case, whitespace or punctuation normalize to the same
string, so exact dedup and benchmark n-gram matching are not fooled by cosmetic edits.

>>> normalize_text("  Hello,\\tWORLD!  ")
'hello world'
>>> words("What's 2+2?")
['what', 's', '2+2']
"""

from __future__ import annotations

import hashlib
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

from instructkit.errors import UserError
from instructkit.records import Example

EXAMPLE_FIELDS = ("instruction", "input", "output")


@lru_cache(maxsize=1)
def _punct_table() -> dict[int, str]:
    # every Unicode punctuation character (categories Pc Pd Pe Pf Pi Po Ps) becomes a space; symbols
    # such as + = $ stay, because "2+2" and "2=2" are different texts
    return {c: " " for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)).startswith("P")}


def normalize_text(text: str) -> str:
    """NFKC, casefold, punctuation to spaces, whitespace collapsed to single spaces, stripped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.translate(_punct_table()).split())


def normalize_many(texts: Sequence[str]) -> list[str]:
    """``normalize_text`` of each text, done in one pass over a joined string (much faster)."""
    if not texts:
        return []
    # \x00 survives NFKC, casefold and the punctuation table, and never occurs in real text we keep
    sep = "\x00"
    joined = sep.join(t.replace(sep, " ") for t in texts)
    joined = unicodedata.normalize("NFKC", joined).casefold().translate(_punct_table())
    parts = joined.split(sep)
    if len(parts) != len(texts):  # pragma: no cover - NFKC never creates or eats \x00
        return [normalize_text(t) for t in texts]
    return [" ".join(p.split()) for p in parts]


def words(text: str) -> list[str]:
    """Normalized words of ``text``."""
    return normalize_text(text).split()


def parse_fields(spec: str | Sequence[str] | None, allowed: Iterable[str] = EXAMPLE_FIELDS) -> list[str]:
    """``"instruction,input"`` -> ``["instruction", "input"]``, validated (UserError names the bad one)."""
    if spec is None or spec == "":
        return list(EXAMPLE_FIELDS)
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    allowed = tuple(allowed)
    bad = [s for s in items if s not in allowed]
    if bad or not items:
        raise UserError(f"--fields: unknown field '{bad[0] if bad else spec}'; use a comma list of "
                        f"{', '.join(allowed)}")
    return items


def example_text(ex: Example, fields: Sequence[str]) -> str:
    """The fields of ``ex`` joined by blank lines (empty fields skipped)."""
    return "\n\n".join(getattr(ex, f) for f in fields if getattr(ex, f))


def hash64(token: str) -> int:
    """Stable 64-bit hash of a string (independent of the corpus, the process and PYTHONHASHSEED)."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


def word_tokens(normalized: Sequence[str], vocab: dict[str, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(flat uint64 word hashes, offsets) of already-normalized texts; ``vocab`` caches word hashes."""
    vocab = {} if vocab is None else vocab
    flat: list[int] = []
    offsets = np.zeros(len(normalized) + 1, dtype=np.int64)
    for i, t in enumerate(normalized):
        ws = t.split()
        offsets[i + 1] = offsets[i] + len(ws)
        for w in ws:
            h = vocab.get(w)
            if h is None:
                h = vocab[w] = hash64(w)
            flat.append(h)
    return np.array(flat, dtype=np.uint64), offsets



def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer on a uint64 array: spreads every input bit over the whole output."""
    x = np.asarray(x, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def ngram_hashes(token_hashes: np.ndarray, offsets: np.ndarray, n: int,
                 short_as_one: bool = True, with_positions: bool = False) -> tuple[np.ndarray, ...]:
    """Hash every run of ``n`` consecutive tokens inside each record, for all records at once.

    ``token_hashes`` is the flat uint64 array of all records' tokens, record ``r`` owning
    ``token_hashes[offsets[r]:offsets[r+1]]``. Returns ``(hashes, owner)``: one uint64 per n-gram and
    the record it belongs to. A record with fewer than ``n`` tokens (but at least one) yields one
    hash of all its tokens when ``short_as_one``, else nothing. ``with_positions`` adds a third
    array: the index of each n-gram's first token within its record.
    """
    total = int(offsets[-1])
    counts = np.diff(offsets)
    owner_tok = np.repeat(np.arange(len(counts)), counts)
    end = offsets[1:][owner_tok] if total else np.zeros(0, dtype=np.int64)
    pos = np.arange(total)
    # position-dependent odd multipliers make the combination order-sensitive ("a b" != "b a")
    mults = mix64(np.arange(1, n + 1, dtype=np.uint64)) | np.uint64(1)
    acc = np.zeros(total, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            inside = pos + j < end
            shifted = np.zeros(total, dtype=np.uint64)
            if j < total:
                shifted[: total - j] = token_hashes[j:]
            acc += np.where(inside, shifted * mults[j], np.uint64(0))
    full = pos + n <= end
    if short_as_one:
        starts = offsets[:-1][owner_tok] if total else np.zeros(0, dtype=np.int64)
        full |= (pos == starts) & (counts[owner_tok] < n)
    hashes, owner = mix64(acc[full] ^ np.uint64(n)), owner_tok[full]
    if with_positions:
        return hashes, owner, pos[full] - offsets[:-1][owner]
    return hashes, owner
