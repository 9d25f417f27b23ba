"""GLAN stages 3 and 4: homework questions from per-question concept draws, then answers.

Questions are keyed by (syllabus extraction, question index, run seed, question model, prompt
version); answers by (question id, answer model, prompt version). So ``--answer-model X`` on a
finished run adds a second set of answers without touching a single question. Both stages are
:class:`~instructkit.generate.glan.nodes.NodeStage` declarations run by the one node loop; what
their records must pass to become examples (near-duplicates, answer checks) is in ``checks``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from instructkit.generate.glan import prompts
from instructkit.generate.glan.context import Ctx
from instructkit.generate.glan.nodes import NodeStage, run_nodes
from instructkit.generate.glan.sampler import Draw, draw_questions, question_seed
from instructkit.generate.glan.stages import TOP_P, Subject
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


@dataclass(frozen=True)
class QuestionNode:
    """One planned question: its syllabus, index, id and concept draw (None: the draw space ran out)."""

    syllabus: dict[str, Any]
    index: int
    id: str
    draw: Draw | None
    seed: int = 0                    # the call's sampling seed, from the draw's attempt


def question_plan(ctx: Ctx, syllabi: list[dict[str, Any]]) -> list[QuestionNode]:
    """A node for every question the configuration asks for, in plan order."""
    spec, ver = ctx.cfg.model_for("questions"), prompts.version("glan_question")
    plan = []
    for syl in syllabi:
        if syl.get("failure"):
            continue
        draws = draw_questions(syl["id"], syl["usable_concepts"], ctx.cfg.questions_per_syllabus,
                               ctx.cfg.seed, ctx.cfg.two_session_ratio)
        for i, d in enumerate(draws):
            qid = stable_hash("glan-question", syl["id"], i, ctx.cfg.seed, spec, ver)
            seed = question_seed(syl["id"], i, ctx.cfg.seed, d.attempt) & 0x7FFFFFFF if d is not None else 0
            plan.append(QuestionNode(syl, i, qid, d, seed))
    return plan


def question_nodes(ctx: Ctx, subjects: dict[str, Subject]) -> NodeStage[QuestionNode]:
    """A homework question per draw (T=1.0, top-p 0.95), the syllabus learned up to the draw's session."""
    spec, cfg = ctx.cfg.model_for("questions"), ctx.cfg

    def variables(n: QuestionNode) -> dict[str, Any]:
        subj, d = subjects[n.syllabus["subject_id"]], n.draw
        view = _syllabus_view(n.syllabus, n.syllabus["usable_concepts"], d.learned_up_to)
        return dict(discipline=subj.discipline.name, subject=subj.name, level=subj.level, syllabus=view,
                    learned_up_to=d.learned_up_to, strategy=d.strategy, chosen=[view[s] for s in d.sessions],
                    concepts=[c for _, c in d.concepts])

    def record(n: QuestionNode, res: Any) -> dict[str, Any]:
        subj, question = subjects[n.syllabus["subject_id"]], clean_question(res.text)
        return {"id": n.id, "syllabus_id": n.syllabus["id"], "subject_id": subj.id,
                "discipline_id": subj.discipline.id, "index": n.index, "seed": n.seed, "draw": n.draw.to_dict(),
                "model": redact(spec), "template": prompts.version("glan_question"), "question": question,
                "text": res.text, "finish_reason": res.finish_reason, "failure": None if question else "empty_output"}

    return NodeStage(
        stage="questions", calls="questions", progress="questions", stream="questions", template="glan_question",
        node_id=lambda n: n.id, discipline=lambda n: subjects[n.syllabus["subject_id"]].discipline.name,
        variables=variables,
        sampling=lambda n: dict(temperature=QUESTION_TEMPERATURE, top_p=TOP_P, max_tokens=cfg.tokens_for("question"),
                                seed=n.seed),
        record=record, context=lambda n: {"syllabus_id": n.syllabus["id"], "index": n.index},
        # the syllabus is too small for this many distinct draws
        precheck=lambda n: "draw_space_exhausted" if n.draw is None else None)


async def questions_stage(ctx: Ctx, syllabi: list[dict[str, Any]], subjects: dict[str, Subject],
                          generate: bool) -> list[dict[str, Any]]:
    """One question per planned draw; returns the question records of this plan, in plan order."""
    plan = question_plan(ctx, syllabi)
    done = await run_nodes(ctx, question_nodes(ctx, subjects), plan, generate)
    return [done[n.id] for n in plan if n.id in done]


def answer_id(question_id: str, spec: str) -> str:
    return stable_hash("glan-answer", question_id, spec, prompts.version("glan_answer"))


def answer_nodes(ctx: Ctx, subjects: dict[str, Subject]) -> NodeStage[tuple[dict[str, Any], str]]:
    """A step-by-step answer per question (T=0.7), by the answer model; the question's seed."""
    spec, cfg = ctx.cfg.model_for("answers"), ctx.cfg

    def record(n: tuple[dict[str, Any], str], res: Any) -> dict[str, Any]:
        q, aid = n
        return {"id": aid, "question_id": q["id"], "model": redact(spec), "template": prompts.version("glan_answer"),
                "answer": res.text.strip(), "finish_reason": res.finish_reason,
                "completion_tokens": res.completion_tokens, "failure": None if res.text.strip() else "empty_output"}

    return NodeStage(
        stage="answers", calls="answers", progress="answers", stream="answers", template="glan_answer",
        node_id=lambda n: n[1], discipline=lambda n: subjects[n[0]["subject_id"]].discipline.name,
        variables=lambda n: dict(discipline=subjects[n[0]["subject_id"]].discipline.name, question=n[0]["question"]),
        sampling=lambda n: dict(temperature=ANSWER_TEMPERATURE, top_p=TOP_P, max_tokens=cfg.tokens_for("answer"),
                                seed=n[0]["seed"]),
        record=record, context=lambda n: {"question_id": n[0]["id"]})


async def answers_stage(ctx: Ctx, questions: list[dict[str, Any]], subjects: dict[str, Subject],
                        generate: bool) -> dict[str, dict[str, Any]]:
    """An answer per question (by the answer model); returns answer records by question id."""
    spec = ctx.cfg.model_for("answers")
    plan = [(q, answer_id(q["id"], spec)) for q in questions if not q.get("failure")]
    done = await run_nodes(ctx, answer_nodes(ctx, subjects), plan, generate)
    return {q["id"]: done[aid] for q, aid in plan if aid in done}
