"""Quality scorers for selection: a column, an LLM judge, IFD, a reward model.

``score_examples(examples, "judge", llm=...)`` → :class:`ScoreReport` (one float per example).
Specs: ``judge`` | ``ifd`` (need ``llm``) | ``reward:/local/model/folder`` | any other string =
the name of a numeric column (input columns beyond instruction/input/output land in ``meta``).
Model-based scores are cached on disk by scorer identity and content.

>>> from instructkit.records import Example
>>> score_examples([Example("a", meta={"stars": 4})], "stars").scores.tolist()
[4.0]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from instructkit.errors import UserError
from instructkit.records import Example

if TYPE_CHECKING:
    from instructkit.llm import LLM
    from instructkit.score.llm_scorers import ScoreReport

__all__ = ["score_examples", "needs_model"]


def needs_model(spec: str) -> bool:
    return spec in ("judge", "ifd")


def score_examples(examples: list[Example], spec: str, llm: "LLM | None" = None,
                   cache: str | Path | bool | None = True, progress: Any = None,
                   where: str = "input") -> "ScoreReport":
    """Score every example by ``spec`` (see the module docstring)."""
    import numpy as np

    from instructkit.score.cache import ScoreCache
    from instructkit.score.llm_scorers import ScoreReport, ifd_scores, judge_scores

    if not spec:
        raise UserError("empty quality spec; use COLUMN, judge, ifd or reward:PATH")
    if not (needs_model(spec) or spec.startswith("reward:")):
        from instructkit.score.column import column_scores

        s = column_scores(examples, spec, where=where)
        if progress:
            progress(len(examples))
        return ScoreReport(scores=np.asarray(s), details=[{"method": "column"}] * len(examples),
                           counts={"column": len(examples)})
    store = None if not cache else ScoreCache(None if cache is True else cache)
    try:
        if spec.startswith("reward:"):
            from instructkit.score.reward import reward_scores

            return reward_scores(spec[len("reward:"):], examples, cache=store, progress=progress)
        if llm is None:
            raise UserError(f"--quality {spec} needs a model (--model)")
        fn = judge_scores if spec == "judge" else ifd_scores
        return fn(llm, examples, cache=store, progress=progress)
    finally:
        if store is not None:
            store.close()
