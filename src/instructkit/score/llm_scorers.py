"""Quality from a language model, through the one door: an LLM judge and IFD.

* **judge** — the model rates the example 1–5; the score is the *expected* rating
  ``Σ r·p(r) / Σ p(r)`` over the digits 1–5 among the top-5 alternatives of the first generated
  position that has any (``logprobs=5``, up to 2 tokens). Works with the embedded model and any OpenAI-compatible server that
  returns logprobs. Without logprobs (or no digit among them) the digit in the text is used; with no
  digit at all the example is *unrated* (counted, and given the median of the rated ones).
* **ifd** — instruction-following difficulty (Cherry LLM): mean token loss of the response *with* the
  instruction divided by the loss *without* it (an empty user turn), both from ``LLM.score``.
  IFD < 1: the instruction helps; IFD ≥ 1: it does not (likely misaligned), so quality = 0 there,
  else quality = IFD (harder but aligned examples rank higher). Raw IFD and losses are kept.

Scores are cached on disk (:class:`instructkit.score.cache.ScoreCache`) by model identity, prompt
version and content: a second run makes no model calls.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from instructkit import prompts
from instructkit.aio import gather_or_cancel
from instructkit.llm import LLM
from instructkit.records import Example
from instructkit.score.cache import ScoreCache, score_key

JUDGE_PROMPT = "judge"  # instructkit/prompts/judge.j2; its cache tag keys the response and score caches
IFD_VERSION = "ifd-v1"  # IFD sends no prompt text of ours (the example itself): a scorer version, not a prompt's
_DIGIT = re.compile(r"[1-5]")
_TEXT_DIGIT = re.compile(r"(?<![\d.])[1-5](?![\d.]?\d)")  # a standalone 1-5, not part of "10" or "2.5"


@dataclass
class ScoreReport:
    """One score per example, plus where each came from (for the run summary)."""

    scores: np.ndarray
    details: list[dict[str, Any]]
    counts: dict[str, int] = field(default_factory=dict)


def example_prompt(ex: Example) -> str:
    return ex.user_turn()


def judge_messages(ex: Example, max_chars: int = 2000) -> list[dict[str, str]]:
    return prompts.render(JUDGE_PROMPT, instruction=example_prompt(ex)[:max_chars], answer=ex.output[:max_chars])[0]


def expected_rating(top_logprobs: list[dict[str, float]] | None, text: str) -> tuple[float | None, dict]:
    """Expected 1–5 rating at the first generated position with a digit 1–5 among its alternatives.

    Renormalized over the digits seen there (``digit_mass`` says how much probability they had, so
    weak ratings are visible); with no such position, the first standalone 1–5 in the text.

    >>> round(expected_rating([{"4": math.log(0.6), "5": math.log(0.2), "x": -1.0}], "4")[0], 3)
    4.25
    >>> expected_rating(None, "I rate it 3.")
    (3.0, {'method': 'text'})
    """
    for pos in top_logprobs or []:
        mass: dict[int, float] = {}
        for tok, lp in (pos or {}).items():
            t = tok.strip()
            if _DIGIT.fullmatch(t):
                mass[int(t)] = mass.get(int(t), 0.0) + math.exp(lp)
        total = sum(mass.values())
        if total > 0:  # the first generated position where a rating is among the alternatives
            return sum(r * p for r, p in mass.items()) / total, {"method": "logprobs", "digit_mass": total}
    m = _TEXT_DIGIT.search(text or "")
    return (float(m.group()), {"method": "text"}) if m else (None, {"method": "none"})


async def _judge_one(llm: LLM, ex: Example) -> tuple[float | None, dict]:
    comp = await llm.chat(judge_messages(ex), max_tokens=2, logprobs=5, temperature=0.0,
                          template=prompts.cache_tag(JUDGE_PROMPT))
    score, info = expected_rating(comp.top_logprobs, comp.text)
    info["text"] = comp.text
    return score, info


async def _ifd_one(llm: LLM, ex: Example) -> tuple[float | None, dict]:
    if not ex.output.strip():
        return None, {"method": "none", "reason": "empty output"}
    cond = await llm.score([{"role": "user", "content": example_prompt(ex)}], ex.output, template=IFD_VERSION)
    free = await llm.score([{"role": "user", "content": ""}], ex.output, template=IFD_VERSION)
    lc, lu = -cond.mean_logprob, -free.mean_logprob
    if not cond.logprobs or lu <= 0 or not math.isfinite(lc / lu):
        return None, {"method": "none", "reason": "no scorable tokens"}
    ifd = lc / lu
    return (ifd if ifd < 1.0 else 0.0), {"method": "score", "ifd": ifd, "loss_cond": lc, "loss_free": lu}


def _run(llm: LLM, examples: list[Example], kind: str, one: Callable[[LLM, Example], Awaitable[tuple]],
         version: str, cache: ScoreCache | None, progress: Any = None) -> ScoreReport:
    identity = [kind, version, llm.backend.info.identity]
    keys = [score_key(identity, ex.instruction, ex.input, ex.output) for ex in examples]
    found = cache.get_many(keys) if cache else {}
    results: list[tuple[float | None, dict] | None] = [found.get(k) for k in keys]
    todo = [i for i, r in enumerate(results) if r is None]
    counts = {"cached": len(examples) - len(todo)}
    if progress and counts["cached"]:
        progress(counts["cached"])

    async def main() -> None:
        async def task(i: int) -> None:
            s, info = await one(llm, examples[i])
            results[i] = (s, info)
            if cache is not None:
                cache.put(keys[i], s, info)
            if progress:
                progress(1)
        await gather_or_cancel(*(task(i) for i in todo))

    if todo:
        asyncio.run(main())
    scores = np.array([np.nan if r[0] is None else float(r[0]) for r in results], dtype=np.float64)  # type: ignore[index]
    details = [dict(r[1]) for r in results]  # type: ignore[index]
    for d in details:
        counts[d.get("method", "none")] = counts.get(d.get("method", "none"), 0) + 1
    bad = ~np.isfinite(scores)
    counts["unrated"] = int(bad.sum())
    if bad.any():  # an unrated example neither wins nor loses on quality: the median of the rest
        scores[bad] = float(np.median(scores[~bad])) if (~bad).any() else 0.0
    return ScoreReport(scores=scores, details=details, counts=counts)


def judge_scores(llm: LLM, examples: list[Example], cache: ScoreCache | None = None,
                 progress: Any = None) -> ScoreReport:
    """Expected 1–5 judge rating per example (see the module docstring)."""
    return _run(llm, examples, "judge", _judge_one, prompts.cache_tag(JUDGE_PROMPT), cache, progress)


def ifd_scores(llm: LLM, examples: list[Example], cache: ScoreCache | None = None,
               progress: Any = None) -> ScoreReport:
    """IFD-based quality per example (see the module docstring); raw IFD in ``details``."""
    return _run(llm, examples, "ifd", _ifd_one, IFD_VERSION, cache, progress)
