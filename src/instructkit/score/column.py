"""Quality from a numeric column already in the data (e.g. a ChatGPT rating or reward score)."""

from __future__ import annotations

import math

import numpy as np

from instructkit.errors import UserError
from instructkit.records import Example


def column_scores(examples: list[Example], column: str, where: str = "input") -> np.ndarray:
    """``meta[column]`` (extra input columns land in meta) as floats; a missing or non-number is an error.

    >>> column_scores([Example("a", meta={"q": 2}), Example("b", meta={"q": "3.5"})], "q").tolist()
    [2.0, 3.5]
    """
    out = np.empty(len(examples), dtype=np.float64)
    for i, ex in enumerate(examples):
        val = ex.meta.get(column)
        try:
            out[i] = float(val)  # type: ignore[arg-type]
            if not math.isfinite(out[i]):
                raise ValueError
        except (TypeError, ValueError):
            raise UserError(f"{where}: example {i + 1} (id {ex.id}) has no numeric '{column}' "
                            f"(got {val!r}); use --quality judge|ifd|reward:PATH or fix the column") from None
    return out
