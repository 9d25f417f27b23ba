"""Dynosaur: does a kept task's instruction actually explain its input -> output mapping?

A cheap semantic check on ``k`` rows of each task, through the same door (and cache) as task design,
so a re-run costs nothing. Three signals, each recorded on the task as ``validity.parts``
(``likelihood`` and ``kind`` by default; ``answer`` on request, see below):

* **likelihood** (the IFD idea): the mean per-token log-probability of the gold output given
  instruction + input, minus the same given a *null* instruction + input. The null instruction keeps
  the label-space sentence ("Answers must be one of: ..."), so listing labels earns nothing by itself.
  ``gain > 0``: the instruction makes the right outputs more likely. Needs ``LLM.score`` (the
  embedded model has it; on a model that cannot score, the part says ``skipped`` and why, and the
  score rests on the other signals).
* **answer** (opt-in): the model answers the task on the k rows. Classification: accuracy minus the
  majority-class rate of the task's rows; generation: ROUGE-L of the answer minus ROUGE-L of the
  answer to the null instruction. It needs a model that can do the tasks: with a small one it
  measures the model more than the instruction, and it costs 2k generations per task.
* **kind**: the instruction's verb against the task kind: "summarize/write/translate..." over a
  label space, or "classify/which label..." over free text, is a mismatch (a veto).

``score`` = mean of the signals mapped to [0, 1] (likelihood: ``sigmoid(gain / 0.1)``; answer:
``0.5 + delta``), or 0 on a kind mismatch. A task scoring under the threshold (0.5: the instruction
helps less than it hurts) is dropped with reason ``fails_verification``. The rows used are listed in
``validity.rows`` (they stay instances: held back from nothing, flagged).

>>> kind_mismatch("Summarize the article in one sentence.", "classification", ["world", "sports"])
'a generation verb (summarize) over a label space'
>>> round(rouge_l("the cat sat", "the cat sat down"), 3)
0.857
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from instructkit.records import Example, Task

if TYPE_CHECKING:
    from instructkit.llm import LLM

FAILS_VERIFICATION = "fails_verification"  # = dynosaur_filter.FAILS_VERIFICATION
VERIFY_VERSION = "dynosaur-verify-v1"
NULL_INSTRUCTION = "Respond to the input."
LIKELIHOOD_SCALE = 0.1   # nats per token: a gain of 0.1 maps to 0.73
SIGNALS = ("likelihood", "answer", "kind")
DEFAULT_SIGNALS = ("likelihood", "kind")  # "answer" measures the model as much as the instruction: opt in

_GEN_VERBS = ("summarize", "summarise", "write", "translate", "paraphrase", "rewrite", "compose", "generate",
              "explain", "describe", "draft", "expand", "continue")
_CLS_VERBS = ("classify", "categorize", "categorise", "label", "is it", "true or false", "yes or no",
              "which category", "which label", "which class", "sentiment")


@dataclass(frozen=True)
class VerifyConfig:
    """How tasks are checked. ``rows`` per task, answers cut at ``answer_tokens``."""

    rows: int = 3
    threshold: float = 0.5
    signals: tuple[str, ...] = DEFAULT_SIGNALS
    answer_tokens: int = 32

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "signals": list(self.signals), "version": VERIFY_VERSION}


def parse_signals(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"likelihood,kind"`` (or a list) as a tuple of known signal names; UserError otherwise."""
    from instructkit.errors import UserError

    items = text.split(",") if isinstance(text, str) else list(text)
    signals = tuple(dict.fromkeys(str(x).strip() for x in items if str(x).strip()))
    bad = [x for x in signals if x not in SIGNALS]
    if not signals or bad:
        raise UserError(f"--verify-signals {text!r}: use a comma-separated subset of {','.join(SIGNALS)}")
    return signals


# -- pure parts ----------------------------------------------------------------------------------
def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over lowercased words (longest common subsequence), in [0, 1]."""
    a, b = re.findall(r"\w+", prediction.lower()), re.findall(r"\w+", reference.lower())
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


def names_label(answer: str, gold: str, labels: list[str]) -> bool:
    """The answer names the gold label and no other one ("world or sports" hedges: wrong)."""
    text = " ".join(answer.lower().split()).strip(" .:\"'*")
    if text == gold.lower():
        return True
    named = {lab.lower() for lab in labels if re.search(rf"(?<!\w){re.escape(lab.lower())}(?!\w)", text)}
    return named == {gold.lower()}


def kind_mismatch(instruction: str, kind: str, labels: list[str] | None) -> str | None:
    """Why the instruction's verb does not fit the task kind, or None."""
    text = instruction.lower()
    first = re.findall(r"[a-z]+", text)[:1]
    if kind == "classification" and labels:
        verb = next((v for v in _GEN_VERBS if (first and first[0] == v) or re.search(rf"\b{v}\b", text[:60])), None)
        mentions_labels = sum(lab.lower() in text for lab in labels) >= min(2, len(labels))
        if verb and not mentions_labels:
            return f"a generation verb ({verb}) over a label space"
    if kind == "generation":
        verb = next((v for v in _CLS_VERBS if re.search(rf"\b{v}\b", text)), None)
        if verb in ("classify", "categorize", "categorise", "which category", "which label", "which class"):
            return f"a classification phrase ({verb}) over free-text outputs"
    return None


def held_rows(instances: list[Example], k: int) -> list[Example]:
    """``k`` rows spread over the task's instances, skipping its two demonstrations when it can."""
    pool = instances[2:] if len(instances) > k + 2 else instances
    if len(pool) <= k:
        return list(pool)
    step = len(pool) / k
    return [pool[int(i * step)] for i in range(k)]


def _user(instruction: str, inp: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{instruction}\n\n{inp}" if inp else instruction}]


def _null_instruction(task: Task) -> str:
    """The null instruction, with the task's label-space sentence when it has one."""
    suffix = re.search(r"Answers must be one of: .*$", task.instruction)
    return f"{NULL_INSTRUCTION} {suffix.group(0)}" if suffix else NULL_INSTRUCTION


# -- the model parts -----------------------------------------------------------------------------
async def _likelihood(llm: "LLM", task: Task, rows: list[Example]) -> dict[str, Any] | None:
    if not getattr(llm.backend.info, "can_score", True):
        return None
    from instructkit.errors import UnsupportedError

    null = _null_instruction(task)
    gains = []
    for ex in rows:
        try:
            with_instr = await llm.score(_user(task.instruction, ex.input), ex.output, template=VERIFY_VERSION)
            without = await llm.score(_user(null, ex.input), ex.output, template=VERIFY_VERSION)
        except UnsupportedError as e:  # e.g. a server whose echoed logprobs cannot be trusted: say so, skip it
            return {"skipped": f"this model cannot score text ({e})"}
        if with_instr.logprobs and without.logprobs:
            gains.append(with_instr.mean_logprob - without.mean_logprob)
    if not gains:
        return None
    gain = sum(gains) / len(gains)
    return {"gain": round(gain, 4), "score": round(1 / (1 + math.exp(-gain / LIKELIHOOD_SCALE)), 4)}


async def _answer(llm: "LLM", task: Task, rows: list[Example], all_rows: list[Example],
                  cfg: VerifyConfig) -> dict[str, Any]:
    async def ask(instruction: str, ex: Example, tokens: int) -> str:
        comp = await llm.chat(_user(instruction, ex.input), temperature=0.0, max_tokens=tokens,
                              template=VERIFY_VERSION)
        return comp.text

    if task.kind == "classification" and task.label_space:
        answers = [await ask(task.instruction, ex, 12) for ex in rows]
        acc = sum(names_label(a, ex.output, task.label_space) for a, ex in zip(answers, rows)) / len(rows)
        majority = Counter(e.output for e in all_rows).most_common(1)[0][1] / len(all_rows)
        delta = acc - majority
        part = {"accuracy": round(acc, 4), "majority_rate": round(majority, 4)}
    else:
        tokens = cfg.answer_tokens
        ours = [rouge_l(await ask(task.instruction, ex, tokens), ex.output) for ex in rows]
        null = [rouge_l(await ask(_null_instruction(task), ex, tokens), ex.output) for ex in rows]
        delta = (sum(ours) - sum(null)) / len(rows)
        part = {"rouge_l": round(sum(ours) / len(rows), 4), "rouge_l_null": round(sum(null) / len(rows), 4)}
    return {**part, "delta": round(delta, 4), "score": round(min(1.0, max(0.0, 0.5 + delta)), 4)}


async def verify_task(llm: "LLM", task: Task, instances: list[Example],
                      cfg: VerifyConfig = VerifyConfig()) -> dict[str, Any]:
    """The ``validity`` record of one task: score, passed, parts, the rows used, the model."""
    rows = held_rows(instances, cfg.rows)
    parts: dict[str, Any] = {}
    mismatch = kind_mismatch(task.meta.get("proposed_instruction", task.instruction), task.kind, task.label_space)
    if "kind" in cfg.signals:
        parts["kind"] = {"match": mismatch is None, **({"detail": mismatch} if mismatch else {})}
    if rows and "likelihood" in cfg.signals:
        got = await _likelihood(llm, task, rows)
        if got is not None:
            parts["likelihood"] = got
    if rows and "answer" in cfg.signals:
        parts["answer"] = await _answer(llm, task, rows, instances, cfg)
    scored = [p["score"] for name, p in parts.items() if name != "kind" and "score" in p]
    score = sum(scored) / len(scored) if scored else 0.5
    if "kind" in cfg.signals and mismatch:
        score = 0.0
    return {"score": round(score, 4), "passed": score >= cfg.threshold, "threshold": cfg.threshold,
            "parts": parts, "rows": [ex.meta.get("row") for ex in rows], "model": llm.spec,
            "version": VERIFY_VERSION}


async def verify_tasks(llm: "LLM", tasks: list[Task], instances: list[Example],
                       cfg: VerifyConfig = VerifyConfig()) -> list[dict[str, Any]]:
    """``verify_task`` for each task (instances matched by ``meta.task_id``), concurrently."""
    by_task: dict[str, list[Example]] = {}
    for ex in instances:
        by_task.setdefault(ex.meta.get("task_id", ""), []).append(ex)
    return list(await asyncio.gather(*(verify_task(llm, t, by_task.get(t.id, []), cfg) for t in tasks)))
