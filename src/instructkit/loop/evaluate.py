"""Super-NI-style evaluation of any model on held-out tasks: ROUGE-L for all, exact match for labels.

Tasks come from Super-NaturalInstructions task files (``Definition``, ``Positive Examples``,
``Instances`` with lists of reference outputs) or from our own ``tasks.jsonl`` + ``instances.jsonl``
(a Dynosaur run directory: Task records, and Examples grouped by ``meta.task_id``).

The model sees one user turn: the task definition, up to ``demos`` demonstrations, then the input.
With no demonstrations this is exactly how ``instructkit train`` formats an example
(``instruction + "\\n\\n" + input``), so trained and evaluated prompts agree. Answers are greedy.

Metrics (per instance, max over the references, x100): ROUGE-L F-measure from the ``rouge-score``
package with stemming, and exact match after normalizing case, punctuation, articles and spaces.
Exact match is reported for classification tasks: those with a label space, or whose references
are all short (at most 3 words) and drawn from a small set (at most half as many distinct values
as references, and at most 20).

>>> tasks = load_tasks(["task1_sentiment.json"], instances=20)                  # doctest: +SKIP
>>> results = evaluate("hf:my-model", tasks, out="eval-run")                     # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from instructkit import prompts
from instructkit.aio import gather_or_cancel
from instructkit.errors import ModelError, UnsupportedError, UserError
from instructkit.records import Example, Task, stable_hash, user_turn
from instructkit.redact import redact
from instructkit.tasks import (reference_instance, load_dynosaur_for_eval, load_superni_for_eval,
                               normalize_label, task_with_instances)
from instructkit.tasks import load_tasks as _load_tasks

PROMPT = "eval"  # instructkit/prompts/eval.j2; its cache tag keys prediction ids and model calls


def EvalInstance(id: str, input: str, references: list[str]) -> Example:  # noqa: N802 - old type name
    """An instance to evaluate: an :class:`Example` whose ``references`` are the accepted outputs."""
    return reference_instance(id=id, input=input, references=references)


def EvalTask(id: str, definition: str, instances: list[Example],  # noqa: N802 - old type name
             demos: list[tuple[str, str]] | tuple = (), label_space: list[str] | None = None,
             source: str = "") -> Task:
    """A task to evaluate, built the old way; it is a :class:`~instructkit.records.Task`."""
    return task_with_instances(id, definition, instances, demos=demos, label_space=label_space, origin=source)


def load_tasks(paths: list[str | Path], instances: int | None = None) -> list[Task]:
    """Every task named by ``paths`` (task files, tasks.jsonl files, or folders holding either).

    :func:`instructkit.tasks.load_tasks`, eval's reading, at most ``instances`` per task.
    """
    return _load_tasks(paths, instances=instances, min_instances=0, for_eval=True)


load_superni = load_superni_for_eval  # old names of the two readers
load_ours = load_dynosaur_for_eval


# -- prompts and metrics ------------------------------------------------------------------------

def build_prompt(task: Task, inst: Example, demos: int = 0) -> str:
    """The user turn: definition, up to ``demos`` demonstrations, the input.

    >>> t = EvalTask("t", "Say the opposite.", [], demos=[("hot", "cold")])
    >>> print(build_prompt(t, EvalInstance("i", "big", ["small"]), demos=0))
    Say the opposite.
    <BLANKLINE>
    big
    """
    shown = task.demos[: max(0, demos)]
    if not shown:
        return user_turn(task.definition, inst.input)
    return prompts.render_text(PROMPT, definition=task.definition, demos=list(shown), input=inst.input)


normalize = normalize_label  # lowercase, no punctuation, no English articles, single spaces


def exact_match(prediction: str, references: list[str]) -> float:
    """100 when the normalized prediction equals a normalized reference, else 0."""
    p = normalize(prediction)
    return 100.0 if any(p == normalize(r) for r in references) else 0.0


_scorer = None


def rouge_l(prediction: str, references: list[str]) -> float:
    """Best ROUGE-L F-measure over the references, x100 (``rouge-score``, with stemming)."""
    global _scorer
    if _scorer is None:
        try:
            from rouge_score import rouge_scorer
        except ImportError:
            raise UserError("evaluation needs rouge-score: pip install 'instructkit[train]'") from None
        _scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return 100.0 * max(_scorer.score(r, prediction)["rougeL"].fmeasure for r in references)


# -- running ----------------------------------------------------------------------------------------

def summarize(tasks: list[Task], preds: dict[str, dict[str, Any]], model: str) -> dict[str, Any]:
    """results.json's content from per-instance predictions (keyed by instance id per task)."""
    per_task: dict[str, dict[str, Any]] = {}
    all_rouge: list[float] = []
    all_em: list[float] = []
    for t in tasks:
        rows = [preds[t.id + "\x00" + i.id] for i in t.instances if t.id + "\x00" + i.id in preds]
        rl = [r["rougeL"] for r in rows]
        em = [r["exact_match"] for r in rows]
        cls = t.is_classification
        per_task[t.id] = {"kind": "classification" if cls else "generation", "instances": len(rows),
                          "rougeL": round(sum(rl) / len(rl), 2) if rl else None,
                          "exact_match": round(sum(em) / len(em), 2) if em and cls else None,
                          "source": t.origin}
        all_rouge += rl
        if cls:
            all_em += em
    task_means = [v["rougeL"] for v in per_task.values() if v["rougeL"] is not None]
    return {"model": redact(model),
            "overall": {"rougeL": round(sum(all_rouge) / len(all_rouge), 2) if all_rouge else None,
                        "rougeL_task_mean": round(sum(task_means) / len(task_means), 2) if task_means else None,
                        "exact_match_classification": round(sum(all_em) / len(all_em), 2) if all_em else None,
                        "tasks": len(tasks), "instances": len(all_rouge)},
            "tasks": per_task}


def evaluate(model: str, tasks: list[Task], out: str | Path, demos: int = 2, max_tokens: int = 64,
             concurrency: int = 4, argv: list[str] | None = None, llm: Any = None,
             options: Any = None) -> dict[str, Any]:
    """Generate an answer per instance (resuming ``out``), score it, write and return the results.

    Writes ``out/predictions.jsonl`` (one line per instance, as answers arrive) and
    ``out/results.json`` (per-task and overall scores). ``llm`` may be an open
    :class:`instructkit.llm.LLM`; otherwise ``model`` is opened with the run's cache and
    ``options`` (:class:`instructkit.llm.ModelOptions`; ``concurrency`` when not given).
    """
    import asyncio

    from instructkit import ui
    from instructkit.llm import ModelOptions, check_spec, open_model
    from instructkit.llm.usage import UsageLedger
    from instructkit.runs import RunDir, atomic_write_json

    if llm is None:  # a bad spec is a one-line error before anything is written
        check_spec(model)
    config = {"model": model, "tasks": sorted(t.id for t in tasks), "demos": demos, "max_tokens": max_tokens,
              "prompt": prompts.cache_tag(PROMPT)}
    with RunDir(out, command="eval", config=config, argv=argv) as run:
        door = llm or open_model(model, cache=run.cache_path, ledger=UsageLedger(),
                                 options=options or ModelOptions(concurrency=concurrency))
        ident = stable_hash("eval-model", door.backend.info.identity)
        shown_model = redact(model)  # a URL's user:password never reaches a record
        stream = run.stream("predictions")

        def pred_id(t: Task, i: Example) -> str:
            return stable_hash("pred", ident, t.id, i.id, demos, max_tokens, prompts.cache_tag(PROMPT))

        todo = [(t, i) for t in tasks for i in t.instances if pred_id(t, i) not in stream]
        failed: dict[str, str] = {}  # prediction id -> error kind: not written, so a re-run retries it

        async def one(t: Task, i: Example) -> None:
            msgs = [{"role": "user", "content": build_prompt(t, i, demos)}]
            try:
                comp = await door.chat(msgs, temperature=0.0, max_tokens=max_tokens,
                                       template=prompts.cache_tag(PROMPT))
            except UnsupportedError:
                raise
            except ModelError as e:
                failed[pred_id(t, i)] = e.kind
                bar.advance()
                return
            text = comp.text.strip()
            stream.append({"id": pred_id(t, i), "task_id": t.id, "instance_id": i.id, "input": i.input,
                           "prediction": text, "references": i.references,
                           "rougeL": round(rouge_l(text, i.references), 4),
                           "exact_match": exact_match(text, i.references), "model": shown_model})
            bar.advance()

        async def run_all() -> None:
            try:
                await gather_or_cancel(*(one(t, i) for t, i in todo))
            finally:
                if llm is None:
                    await door.aclose()

        with ui.progress("evaluating", total=len(todo), ledger=door.ledger) as bar:
            asyncio.run(run_all())
        wanted = {pred_id(t, i): (t.id, i.id) for t in tasks for i in t.instances}
        preds = {}
        for r in stream.records():
            if r["id"] in wanted:
                tid, iid = wanted[r["id"]]
                preds[tid + "\x00" + iid] = r
        results = summarize(tasks, preds, model)
        results["config"] = redact(config)
        atomic_write_json(run.path / "results.json", results)
        kinds = dict(Counter(failed.values()))
        results["status"] = run.finish(
            outputs={"results": "results.json", "predictions": "predictions.jsonl"},
            counts={"tasks": len(tasks), "instances": results["overall"]["instances"],
                    "generated_now": len(todo) - len(failed), "failed": len(failed), "failed_kinds": kinds},
            usage=door.ledger, failed=len(failed), produced=len(preds), overall=results["overall"])
        results["failed"], results["failed_kinds"] = len(failed), kinds
    return results


def format_table(results: dict[str, Any]) -> str:
    """A plain-text per-task and overall table."""
    rows = [("task", "kind", "n", "ROUGE-L", "EM")]
    for tid, v in results["tasks"].items():
        rows.append((tid, v["kind"], str(v["instances"]), _fmt(v["rougeL"]), _fmt(v["exact_match"])))
    o = results["overall"]
    rows.append(("overall", f"{o['tasks']} tasks", str(o["instances"]), _fmt(o["rougeL"]),
                 _fmt(o["exact_match_classification"])))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    lines = ["  ".join(cell.ljust(w) if c < 2 else cell.rjust(w) for c, (cell, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"
