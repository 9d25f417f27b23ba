"""GLAN stages 3 and 4: homework questions from per-question concept draws, then answers.

Questions are keyed by (syllabus extraction, question index, run seed, question model, prompt
version); answers by (question id, answer model, prompt version). So ``--answer-model X`` on a
finished run adds a second set of answers without touching a single question.
"""

from __future__ import annotations

import re
from typing import Any

from instructkit.errors import ModelError
from instructkit.generate.glan import prompts
from instructkit.generate.glan.context import Ctx, run_jobs
from instructkit.generate.glan.sampler import Draw, draw_questions, question_seed
from instructkit.generate.glan.stages import TOP_P, Subject, _fail
from instructkit.records import stable_hash
from instructkit.redact import redact

ANSWER_TEMPERATURE = 0.7
QUESTION_TEMPERATURE = 1.0
_LEAD = re.compile(r"^\s*(?:\*\*)?(?:(?:homework\s+)?(?:question|problem|task|exercise)\s*(?:\d+)?|ex|q\d*)"
                   r"\s*[:.)-]\s*(?:\*\*)?\s*", re.I)


def clean_question(text: str) -> str:
    """The question without a "Question:" lead-in, wrapping quotes, or an "Answer:" tail."""
    t = text.strip()
    t = re.split(r"\n\s*(?:\*\*)?(?:answer|solution)\s*[:\-]", t, maxsplit=1, flags=re.I)[0]
    t = _LEAD.sub("", t).strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        t = t[1:-1].strip()
    return t


def _syllabus_view(syl: dict[str, Any], usable: list[list[str]], up_to: int) -> list[dict[str, Any]]:
    return [{"number": i + 1, "title": s["title"], "description": s.get("description", ""),
             "key_concepts": usable[i]} for i, s in enumerate(syl["sessions"][:up_to])]


def question_plan(ctx: Ctx, syllabi: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int, str, Draw | None]]:
    """(syllabus, index, question id, draw) for every question the configuration asks for."""
    spec, ver = ctx.cfg.model_for("questions"), prompts.version("glan_question")
    plan = []
    for syl in syllabi:
        if syl.get("failure"):
            continue
        draws = draw_questions(syl["id"], syl["usable_concepts"], ctx.cfg.questions_per_syllabus,
                               ctx.cfg.seed, ctx.cfg.two_session_ratio)
        for i, d in enumerate(draws):
            qid = stable_hash("glan-question", syl["id"], i, ctx.cfg.seed, spec, ver)
            plan.append((syl, i, qid, d))
    return plan


async def questions_stage(ctx: Ctx, syllabi: list[dict[str, Any]], subjects: dict[str, Subject],
                          generate: bool) -> list[dict[str, Any]]:
    """One question per planned draw; returns the question records of this plan, in plan order."""
    spec, ver = ctx.cfg.model_for("questions"), prompts.version("glan_question")
    stream = ctx.run.stream("questions")
    plan = question_plan(ctx, syllabi)

    async def ask(syl: dict[str, Any], i: int, qid: str, d: Draw) -> None:
        subj = subjects[syl["subject_id"]]
        view = _syllabus_view(syl, syl["usable_concepts"], d.learned_up_to)
        msgs, _ = prompts.render("glan_question", discipline=subj.discipline.name, subject=subj.name,
                                 level=subj.level, syllabus=view, learned_up_to=d.learned_up_to,
                                 strategy=d.strategy, chosen=[view[s] for s in d.sessions],
                                 concepts=[c for _, c in d.concepts])
        seed = question_seed(syl["id"], i, ctx.cfg.seed, d.attempt) & 0x7FFFFFFF
        res = await ctx.chat("questions", subj.discipline.name, spec, msgs, ver,
                             temperature=QUESTION_TEMPERATURE, top_p=TOP_P,
                             max_tokens=ctx.cfg.tokens_for("question"), seed=seed)
        if isinstance(res, ModelError):
            return _fail(ctx, qid, "questions", res, syllabus_id=syl["id"], index=i)
        question = clean_question(res.text)
        failure = None if question else "empty_output"
        stream.append({"id": qid, "syllabus_id": syl["id"], "subject_id": subj.id,
                       "discipline_id": subj.discipline.id, "index": i, "seed": seed, "draw": d.to_dict(),
                       "model": redact(spec), "template": ver, "question": question, "text": res.text,
                       "finish_reason": res.finish_reason, "failure": failure})
        if failure:
            ctx.run.reject(qid, failure, stage="questions", syllabus_id=syl["id"], index=i)

    for syl, i, qid, d in plan:
        if d is None:  # the syllabus is too small for this many distinct draws
            ctx.run.reject(qid, "draw_space_exhausted", stage="questions", syllabus_id=syl["id"], index=i)
    if generate:
        await run_jobs("questions", [lambda a=a: ask(*a) for a in plan
                                     if a[3] is not None and not stream.has(a[2])], ctx.pool.ledger)
    done = {r["id"]: r for r in stream.records()}
    ctx.account("questions", [qid for _, _, qid, _ in plan], done)
    return [done[qid] for _, _, qid, _ in plan if qid in done]


def answer_id(question_id: str, spec: str) -> str:
    return stable_hash("glan-answer", question_id, spec, prompts.version("glan_answer"))


async def answers_stage(ctx: Ctx, questions: list[dict[str, Any]], subjects: dict[str, Subject],
                        generate: bool) -> dict[str, dict[str, Any]]:
    """An answer per question (by the answer model); returns answer records by question id."""
    spec, ver = ctx.cfg.model_for("answers"), prompts.version("glan_answer")
    stream = ctx.run.stream("answers")
    plan = [(q, answer_id(q["id"], spec)) for q in questions if not q.get("failure")]

    async def answer(q: dict[str, Any], aid: str) -> None:
        subj = subjects[q["subject_id"]]
        msgs, _ = prompts.render("glan_answer", discipline=subj.discipline.name, question=q["question"])
        res = await ctx.chat("answers", subj.discipline.name, spec, msgs, ver,
                             temperature=ANSWER_TEMPERATURE, top_p=TOP_P,
                             max_tokens=ctx.cfg.tokens_for("answer"), seed=q["seed"])
        if isinstance(res, ModelError):
            return _fail(ctx, aid, "answers", res, question_id=q["id"])
        failure = None if res.text.strip() else "empty_output"
        stream.append({"id": aid, "question_id": q["id"], "model": redact(spec), "template": ver,
                       "answer": res.text.strip(), "finish_reason": res.finish_reason,
                       "completion_tokens": res.completion_tokens, "failure": failure})
        if failure:
            ctx.run.reject(aid, failure, stage="answers", question_id=q["id"])

    if generate:
        await run_jobs("answers", [lambda a=a: answer(*a) for a in plan if not stream.has(a[1])],
                       ctx.pool.ledger)
    done = {r["id"]: r for r in stream.records()}
    ctx.account("answers", [aid for _, aid in plan], done)
    return {q["id"]: done[aid] for q, aid in plan if aid in done}
