"""GLAN outputs: examples with their taxonomy path, coverage, and failures of the current plan."""

from __future__ import annotations

from collections import Counter
from typing import Any

from instructkit.generate.glan.stages import Subject
from instructkit.records import Example


def build_examples(questions: list[dict[str, Any]], answers: dict[str, dict[str, Any]],
                   syllabi: dict[str, dict[str, Any]], subjects: dict[str, Subject]) -> list[Example]:
    """One Example per answered question: instruction = question, output = answer, meta = taxonomy path."""
    out: list[Example] = []
    for q in questions:
        a = answers.get(q["id"])
        if q.get("failure") or a is None or a.get("failure"):
            continue
        subj, syl, draw = subjects[q["subject_id"]], syllabi[q["syllabus_id"]], q["draw"]
        d = subj.discipline
        sessions = [{"number": s + 1, "title": syl["sessions"][s]["title"]} for s in draw["sessions"]]
        meta = {"method": "glan", "field": d.field, "sub_field": d.sub_field, "discipline": d.name,
                "subject": subj.name, "level": subj.level, "sessions": sessions,
                "learned_up_to": draw["learned_up_to"], "concepts": [c for _, c in draw["concepts"]],
                "strategy": draw["strategy"], "requested_strategy": draw["requested"],
                "discipline_id": d.id, "subject_id": subj.id, "syllabus_id": syl["syllabus_id"],
                "syllabus_extraction_id": syl["id"], "question_id": q["id"], "answer_id": a["id"],
                "question_index": q["index"],
                "models": {"question": q["model"], "answer": a["model"]}}
        out.append(Example(instruction=q["question"], output=a["answer"], meta=meta))
    return out


def coverage(syllabi: list[dict[str, Any]], questions: list[dict[str, Any]],
             subjects: dict[str, Subject], examples: list[Example]) -> dict[str, Any]:
    """Questions per discipline / subject / session, and the share of key concepts used at least once.

    A concept counts as used when a question that came out non-empty drew it; the denominator
    is every (session, concept) the sampler could draw from the syllabi of this run.
    """
    per_disc: Counter = Counter()
    per_subj: Counter = Counter()
    per_session: Counter = Counter()
    used: set[tuple[str, int, str]] = set()
    for q in questions:
        if q.get("failure"):
            continue
        subj = subjects[q["subject_id"]]
        per_disc[subj.discipline.name] += 1
        per_subj[f"{subj.discipline.name} / {subj.name}"] += 1
        for s in q["draw"]["sessions"]:
            per_session[f"{subj.discipline.name} / {subj.name} / session {s + 1}"] += 1
        used |= {(q["syllabus_id"], int(s), c.lower()) for s, c in q["draw"]["concepts"]}
    total: set[tuple[str, int, str]] = set()
    per_disc_total: Counter = Counter()
    per_disc_used: Counter = Counter()
    for syl in syllabi:
        if syl.get("failure"):
            continue
        dname = subjects[syl["subject_id"]].discipline.name
        for i, cs in enumerate(syl["usable_concepts"]):
            for c in cs:
                key = (syl["id"], i, c.lower())
                if key not in total:
                    total.add(key)
                    per_disc_total[dname] += 1
                    per_disc_used[dname] += key in used
    strategies = Counter(q["draw"]["strategy"] for q in questions if not q.get("failure"))
    return {
        "questions_per_discipline": dict(per_disc),
        "questions_per_subject": dict(per_subj),
        "questions_per_session": dict(per_session),
        "sessions_with_questions": len(per_session),
        "sessions_total": sum(len(s["usable_concepts"]) for s in syllabi if not s.get("failure")),
        "key_concepts_total": len(total),
        "key_concepts_used": len(used & total),
        "key_concept_share_used": round(len(used & total) / len(total), 4) if total else 0.0,
        "key_concept_share_by_discipline": {d: round(per_disc_used[d] / n, 4) for d, n in per_disc_total.items()},
        "strategies": dict(strategies),
        "examples_per_discipline": dict(Counter(e.meta["discipline"] for e in examples)),
    }


def failures(run_path, plan_ids: set[str], checks: dict[str, dict[str, Any]] | None = None) -> dict[str, int]:
    """Failures by "stage:reason" among this plan's nodes, read from ``rejected.jsonl``, and the
    verdicts of this run's checks (``checks``: stage -> its report with ``rejected`` by reason).

    A model error that a later run got past is not counted (its node now has a record); nor is a
    check's rejection by earlier settings (checks are re-judged every run: this run's verdicts count).
    """
    from instructkit.generate.glan.checks import CHECK_REASONS

    import json

    path = run_path / "rejected.jsonl"
    out: Counter = Counter()
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if r.get("item_id") in plan_ids and r.get("reason") not in CHECK_REASONS:
                out[f"{r.get('stage')}:{r.get('reason')}"] += 1
    for stage, report in (checks or {}).items():
        for reason, n in report.get("rejected", {}).items():
            out[f"{stage}:{reason}"] += n
    return dict(out)
