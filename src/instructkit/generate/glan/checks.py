"""GLAN checks: each answer against its question, and near-duplicate questions per syllabus.

Both are cheap, lexical and run on what the streams hold (no model call), every run: a re-run
with other settings re-judges the same records without asking a model again. A record that fails
is not changed; it is left out of the examples and named in ``rejected.jsonl`` with its reason
(datatrove style), and the manifest counts kept/rejected by reason per check.

Answer checks, in this order (the first that applies is the reason):

* ``answer_refusal``: the answer opens by declining ("I'm sorry, but I can't ...", "As an AI ...")
  -- a refusal phrase within its first 200 characters;
* ``answer_echoes_question``: the answer only repeats the question: at least 90% of its words
  occur in the question (and it has at least 3 words; a short "Yes." is not an echo);
* ``answer_off_topic``: no content overlap: the question has at least 2 content words (3+ letters,
  not a stopword, lightly stemmed) and the answer shares none of them -- an answer to another
  question, or a ramble; the weakest of the signals, so it only fires on zero overlap, and only
  on answers of 5 words or more ("4" answers "What is 2+2?" without sharing a word);
* ``answer_truncated``: the answer ran into its token budget (``finish_reason == "length"``).
  ``truncated="auto"`` (the default) rejects it unless ``--max-tokens`` caps the answer budget
  below its default (1536): a cap is a deliberate small run, where every answer is cut, so cut
  answers are kept and counted (``truncated_kept``); ``reject``/``keep`` decide either way.

An empty answer is rejected when it arrives (``empty_output``, as every GLAN stage does).

Near-duplicate questions: within one syllabus, questions are compared in plan order; a question
whose Jaccard similarity with an earlier kept one reaches the threshold (default 0.8) is dropped
as ``near_duplicate_question`` before it is answered. Similarity is the Jaccard index of the two
questions' sets of casefolded, lightly stemmed words (a word keeps its inner punctuation:
"c0.1", "h2o"). Plan order (not arrival order) makes the
outcome the same for a resumed run as for an uninterrupted one.

>>> check_answer("Why is the sky blue?", "I'm sorry, but I cannot help with that.", "stop")[0]
'answer_refusal'
>>> check_answer("Why is the sky blue during the day?", "Rayleigh scattering: air molecules scatter "
...              "short (blue) wavelengths of sunlight more than red ones, so the sky looks blue.", "stop")
>>> similarity("What is an acid and a base?", "What are acids and bases?")
0.5
>>> round(similarity("What is the pH of pure water?", "What is the pH of pure water at 25 C?"), 2)
0.7
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from instructkit.generate.glan.context import Ctx

REFUSAL = "answer_refusal"
ECHO = "answer_echoes_question"
OFF_TOPIC = "answer_off_topic"
TRUNCATED = "answer_truncated"
NEAR_DUPLICATE = "near_duplicate_question"
CHECK_REASONS = (REFUSAL, ECHO, OFF_TOPIC, TRUNCATED, NEAR_DUPLICATE)
TRUNCATED_POLICIES = ("auto", "reject", "keep")
NEAR_DUP_THRESHOLD = 0.8
ECHO_SHARE = 0.9
SHORT_ANSWER = 5                  # words; a shorter answer ("4", "Yes, it is.") is not judged off-topic

_REFUSAL = re.compile(
    r"\b(?:i(?:'|’)?m sorry|i am sorry|i apologi[sz]e|sorry, (?:but )?i|as an ai\b|as a(?:n ai)? language model"
    r"|i (?:can ?not|can(?:'|’)?t|am unable to|(?:'|’)?m unable to|am not able to|(?:'|’)?m not able to|won(?:'|’)?t be able to)"
    r" (?:help|answer|assist|provide|do that|comply|fulfil)"
    r"|i do(?: not|n(?:'|’)?t) (?:know|have (?:enough )?information))", re.I)
_STOPWORDS = frozenset(
    "a an and are as at be been being but by can could did do does doing for from had has have how if in into is "
    "it its may might more most must not of on or our should so such than that the their them then there these "
    "they this those through to too use used using very was way we were what when where which while who whom "
    "why will with would you your also about after all any both each few other only own same some just explain "
    "describe discuss question answer students student given following one two three first second why".split())


def _stem(word: str) -> str:
    """A light stem: enough that "acids"/"acid" and "reacting"/"reacted" meet, nothing clever."""
    for suffix in ("ies", "ing", "ed", "s"):
        if word.endswith(suffix) and not word.endswith("ss") and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


_WORD = re.compile(r"\w+(?:[.'’+^/-]\w+)*")


def _words(text: str) -> list[str]:
    """Casefolded words; punctuation inside a word keeps it whole ("c0.1", "h2o", "x^2", "don't"), so
    questions about different symbols do not look alike."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def content_words(text: str) -> set[str]:
    """Stemmed words of 3+ letters that are not stopwords: what a question is about."""
    return {_stem(w) for w in _words(text) if len(w) >= 3 and w not in _STOPWORDS and not w.isdigit()}


def similarity(a: str, b: str) -> float:
    """Jaccard index of the two texts' sets of normalized, stemmed words (1.0: the same words)."""
    sa, sb = {_stem(w) for w in _words(a)}, {_stem(w) for w in _words(b)}
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def check_answer(question: str, answer: str, finish_reason: str | None,
                 truncated: str = "reject") -> tuple[str, dict[str, Any]] | None:
    """(reason, evidence) when ``answer`` fails a check against ``question``, else None.

    ``truncated``: "reject" a cut-off answer, or "keep" it (the caller resolved "auto").
    """
    m = _REFUSAL.search(answer[:200])
    if m:
        return REFUSAL, {"matched": m.group(0)}
    a_words, q_words = _words(answer), set(_words(question))
    if len(a_words) >= 3:
        share = sum(w in q_words for w in a_words) / len(a_words)
        if share >= ECHO_SHARE:
            return ECHO, {"share_in_question": round(share, 3)}
    q_content = content_words(question)
    if len(a_words) >= SHORT_ANSWER and len(q_content) >= 2 and not q_content & content_words(answer):
        return OFF_TOPIC, {"question_content_words": sorted(q_content)[:20]}
    if finish_reason == "length" and truncated == "reject":
        return TRUNCATED, {"finish_reason": finish_reason}
    return None


@dataclass
class CheckReport:
    """What a check kept and rejected (by reason), for the manifest's ``stages``."""

    planned: int = 0
    rejected: Counter = field(default_factory=Counter)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        failed = sum(self.rejected.values())
        # planned = done + failed + missing, as every GLAN stage reports (nothing is missing: no call)
        return {"planned": self.planned, "done": self.planned - failed, "failed": failed, "missing": 0,
                "rejected": dict(self.rejected), **self.extra}


def near_duplicates(questions: Iterable[dict[str, Any]], threshold: float) -> dict[str, tuple[str, float]]:
    """Question id -> (id of the earlier kept question it nearly repeats, similarity), per syllabus.

    ``questions`` in plan order; failed ones are skipped. Each question is compared with the kept
    questions of its syllabus before it, so a dropped question never causes another drop.
    """
    kept: dict[str, list[dict[str, Any]]] = {}
    dropped: dict[str, tuple[str, float]] = {}
    for q in questions:
        if q.get("failure"):
            continue
        earlier = kept.setdefault(q["syllabus_id"], [])
        best = max(((similarity(q["question"], k["question"]), k["id"]) for k in earlier), default=None)
        if best is not None and best[0] >= threshold:
            dropped[q["id"]] = (best[1], round(best[0], 3))
        else:
            earlier.append(q)
    return dropped


def truncation_policy(policy: str, max_tokens: int | None, answer_budget: int) -> str:
    """"reject" or "keep" for cut-off answers; "auto" keeps them only under a --max-tokens cap."""
    if policy != "auto":
        return policy
    return "keep" if max_tokens is not None and max_tokens < answer_budget else "reject"


# -- the checks in a run --------------------------------------------------------------------------
def drop_near_duplicates(ctx: "Ctx", questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The questions left after near-duplicates are dropped (and rejected); accounted as ``questions_dedup``."""
    report = CheckReport(planned=sum(1 for q in questions if not q.get("failure")),
                         extra={"threshold": ctx.cfg.near_dup_threshold, "enabled": ctx.cfg.question_dedup})
    dropped = near_duplicates(questions, ctx.cfg.near_dup_threshold) if ctx.cfg.question_dedup else {}
    text = {q["id"]: q["question"] for q in questions}
    for q in questions:
        if q["id"] in dropped:
            like, sim = dropped[q["id"]]
            ctx.run.reject(q["id"], NEAR_DUPLICATE, stage="questions", syllabus_id=q["syllabus_id"], index=q["index"],
                           similar_to=like, similarity=sim, question=q["question"][:300], other=text[like][:300])
            report.rejected[NEAR_DUPLICATE] += 1
    ctx.outcomes["questions_dedup"] = report.to_dict()
    return [q for q in questions if q["id"] not in dropped]


def check_answers(ctx: "Ctx", questions: list[dict[str, Any]],
                  answers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The answers (by question id) that pass :func:`check_answer`; the others are rejected with
    their reason. Accounted as ``answer_checks``."""
    from instructkit.generate.glan.context import DEFAULT_MAX_TOKENS

    policy = truncation_policy(ctx.cfg.truncated_answers, ctx.cfg.max_tokens, DEFAULT_MAX_TOKENS["answer"])
    report = CheckReport(extra={"enabled": ctx.cfg.answer_checks, "truncated": policy, "truncated_kept": 0})
    kept: dict[str, dict[str, Any]] = {}
    for q in questions:
        a = answers.get(q["id"])
        if a is None or a.get("failure") or q.get("failure"):
            continue
        report.planned += 1
        verdict = check_answer(q["question"], a["answer"], a.get("finish_reason"), policy) \
            if ctx.cfg.answer_checks else None
        if verdict is None:
            kept[q["id"]] = a
            report.extra["truncated_kept"] += a.get("finish_reason") == "length"
            continue
        reason, evidence = verdict
        ctx.run.reject(a["id"], reason, stage="answers", question_id=q["id"], question=q["question"][:300],
                       answer=a["answer"][:500], **evidence)
        report.rejected[reason] += 1
    ctx.outcomes["answer_checks"] = report.to_dict()
    return {qid: a for qid, a in answers.items() if qid in kept}
