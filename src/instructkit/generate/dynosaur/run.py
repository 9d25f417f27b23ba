"""Dynosaur over many datasets into one run directory: dynamic growth, resume, counts.

Files of the run directory:

* ``tasks.jsonl``      one :class:`~instructkit.records.Task` per kept task
* ``instances.jsonl``  one :class:`~instructkit.records.Example` per instance (``meta.task_id`` links them)
* ``rejected.jsonl``   every dropped task / skipped dataset with its reason
* ``datasets.jsonl``   one line per dataset-config *finished* (used or skipped) with its counts
* ``manifest.json``    configuration, usage, cumulative ``counts``, status; ``outputs.examples`` names
  ``instances.jsonl`` and ``outputs.tasks`` ``tasks.jsonl`` (what the next commands read)

Growth: a dataset whose key is in ``datasets.jsonl`` is done and is not touched again (no model
call, not even a cache lookup). Its line is written last, after its tasks and instances, so a
run killed half-way through a dataset redoes that dataset on the next run: the answers come
from the cache, the records come out identical and the keyed streams drop what they hold.

>>> from instructkit.generate.dynosaur.run import run_dynosaur   # doctest: +SKIP
>>> summary = run_dynosaur(cards, "runs/dyno", model="local")    # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from instructkit.generate.dynosaur.pipeline import DatasetResult, DynosaurConfig, process_dataset
from instructkit.runs import RunDir, read_jsonl
from instructkit.sources.card import DatasetCard

COMMAND = "dynosaur"


def _dataset_key(meta: dict[str, Any]) -> str:
    return f"{meta.get('dataset')}/{meta.get('config') or 'default'}/{meta.get('split')}"


def aggregate(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Cumulative counts over datasets.jsonl lines (the whole collection, all runs)."""
    c: dict[str, Any] = {"datasets_seen": len(records), "datasets_used": 0, "datasets_skipped": 0,
                         "tasks_proposed": 0, "tasks_kept": 0, "tasks_rejected": Counter(),
                         "classification_tasks": 0, "generation_tasks": 0, "instances": 0,
                         "tasks_verified": 0, "tasks_failed_verification": 0,
                         "instances_skipped": Counter(), "llm_calls": 0, "prompt_tokens": 0,
                         "completion_tokens": 0, "skipped_datasets": {}}
    for r in records:
        if r["status"] == "used":
            c["datasets_used"] += 1
        else:
            c["datasets_skipped"] += 1
            c["skipped_datasets"][r["id"]] = r.get("reason", "")
        c["tasks_proposed"] += r.get("tasks_proposed", 0)
        c["tasks_kept"] += r.get("tasks_kept", 0)
        c["tasks_rejected"].update(r.get("tasks_rejected", {}))
        c["classification_tasks"] += r.get("classification", 0)
        c["generation_tasks"] += r.get("generation", 0)
        c["tasks_verified"] += r.get("tasks_verified", 0)
        c["tasks_failed_verification"] += r.get("tasks_failed_verification", 0)
        c["instances"] += r.get("instances", 0)
        c["instances_skipped"].update(r.get("rows_skipped", {}))
        c["llm_calls"] += r.get("llm_calls", 0)
        c["prompt_tokens"] += r.get("prompt_tokens", 0)
        c["completion_tokens"] += r.get("completion_tokens", 0)
    c["tasks_rejected"] = dict(sorted(c["tasks_rejected"].items()))
    c["instances_skipped"] = dict(sorted(c["instances_skipped"].items()))
    c["tokens"] = c["prompt_tokens"] + c["completion_tokens"]
    c["tokens_per_instance"] = round(c["tokens"] / c["instances"], 2) if c["instances"] else None
    return c


class _Collection:
    """Writes one dataset's results into the run directory, duplicate-free across datasets."""

    def __init__(self, run: RunDir):
        self.run = run
        self.tasks = run.stream("tasks")
        self.instances = run.stream("instances")
        self.datasets = run.stream("datasets")
        run.stream("rejected")  # every file exists from the start, even when nothing is dropped
        done = {r["id"] for r in self.datasets.records()}
        # ids written by a dataset that was interrupted: on its redo they are "already mine", not duplicates
        self._owner: dict[str, str] = {}
        if self.instances.path.exists():
            for r in read_jsonl(self.instances.path):
                k = _dataset_key(r.get("meta", {}))
                if k not in done:
                    self._owner[r["id"]] = k

    def commit(self, res: DatasetResult, card: DatasetCard) -> dict[str, Any]:
        for t in res.tasks:
            self.tasks.append(t.to_dict())
        kept = []
        for ex in res.instances:
            if self.instances.append(ex.to_dict()) or self._owner.get(ex.id) == res.key:
                kept.append(ex)
            else:  # the same instruction/input/output already came from another dataset
                res.rows_skipped["duplicate_instance"] += 1
        res.instances = kept
        for rj in res.rejections:
            self.run.reject(rj.item_id, rj.reason, rj.stage, **rj.details)
        rec = res.record(card)
        self.datasets.append(rec)
        return rec


def run_dynosaur(cards: list[DatasetCard], out: str | Path, model: str = "local",
                 cfg: DynosaurConfig | None = None, concurrency: int = 4,
                 argv: list[str] | None = None, llm: Any = None, executor: Any = None, *,
                 timeout: float | None = None, max_retries: int | None = None,
                 options: Any = None) -> dict[str, Any]:
    """Process the cards not yet done in ``out``; returns the manifest (with ``counts``).

    ``llm`` may be given (an :class:`instructkit.llm.LLM`); otherwise ``model`` is opened with the
    run directory's cache and ``options`` (:class:`instructkit.llm.ModelOptions`; the keywords
    ``timeout``/``max_retries`` override it).
    ``executor`` (:mod:`instructkit.executor`) may run the datasets elsewhere (Ray: one task per
    dataset, :mod:`.ray_datasets`); their results are committed here, in input order, all the same.
    A local executor is the same as none: the datasets run in this process's event loop.
    """
    from instructkit import ui
    from instructkit.llm import ModelOptions, open_model
    from instructkit.llm.usage import UsageLedger

    cfg = cfg or DynosaurConfig()
    if executor is not None and not executor.remote:
        executor = None
    options = (options or ModelOptions(concurrency=concurrency)).replace(timeout=timeout, max_retries=max_retries)
    started = time.time()
    with RunDir(out, command=COMMAND, config={"model": model, **cfg.to_dict()}, argv=argv) as run:
        collection = _Collection(run)
        done = {r["id"] for r in collection.datasets.records()}
        seen: set[str] = set()
        todo: list[DatasetCard] = []
        for c in cards:
            if c.key not in done and c.key not in seen:
                todo.append(c)
            seen.add(c.key)
        if llm is None and todo:
            llm = open_model(model, cache=run.cache_path, ledger=UsageLedger(), options=options)
        verify_llm = None  # a different --verify-model: its own door, same cache file, same ledger
        if todo and cfg.verify and cfg.verify_model and cfg.verify_model != model:
            verify_llm = open_model(cfg.verify_model, cache=run.cache_path, ledger=llm.ledger, options=options)
        failed: dict[str, str] = {}
        this_run = Counter()
        if todo:
            ui.info(f"dynosaur: {len(todo)} new dataset-config(s), {len(seen) - len(todo)} already done")
            asyncio.run(_process_all(llm, todo, cfg, concurrency, collection, run,
                                     failed, this_run, executor, model, verify_llm))
        if executor is not None:
            run.update(executor=executor.describe())
        _finish_manifest(run, llm, failed, this_run, time.time() - started, model)
        return dict(run.manifest)


async def _process_all(llm, todo, cfg, concurrency, collection, run, failed, this_run,
                       executor: Any = None, model: str = "local", verify_llm: Any = None) -> None:
    from instructkit import ui

    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(card: DatasetCard) -> DatasetResult:
        async with sem:
            return await process_dataset(llm, card, cfg, verify_llm)

    if executor is not None:  # e.g. one Ray task per dataset; usage lands in llm.ledger
        from instructkit.generate.dynosaur.ray_datasets import dataset_futures

        futures = dataset_futures(todo, cfg, model, str(run.cache_path), executor.gate(concurrency), llm.ledger,
                                  options=llm.options)
    else:
        futures = [asyncio.ensure_future(one(c)) for c in todo]
    try:
        with ui.progress("dynosaur datasets", total=len(todo), ledger=llm.ledger) as bar:
            for card, fut in zip(todo, futures):  # commit in input order: deterministic files
                res = await fut
                if res.status == "failed":
                    failed[card.key] = res.error
                else:
                    rec = collection.commit(res, card)
                    this_run["datasets"] += 1
                    this_run["instances"] += rec["instances"]
                    this_run["tasks_kept"] += rec["tasks_kept"]
                _finish_manifest(run, llm, failed, this_run, None, llm.spec, final=False)
                bar.advance()
    finally:
        for f in futures:
            f.cancel()
        await llm.aclose()
        if verify_llm is not None:
            await verify_llm.aclose()


def _finish_manifest(run: RunDir, llm, failed: dict[str, str], this_run: Counter, wall: float | None,
                     model: str, final: bool = True) -> None:
    """Counts over the whole collection; usage through the run directory (all runs + this run).

    Status (final only): a dataset that failed on model errors is retried on re-run (partial);
    with no instance in the collection at all the run failed.
    """
    counts = aggregate(run.stream("datasets").records())
    ledger = llm.ledger if llm is not None else None
    facts: dict[str, Any] = {**dict(this_run), "failed_datasets": dict(failed)}
    if final and wall is not None:
        facts["wall_s"] = round(wall, 1)
    run.record_usage(ledger, **facts)
    counts["estimated_cost_usd"] = run.manifest["usage"].get("estimated_cost_usd")
    if not final:
        run.update(counts=counts, model=model)
        return
    run.finish(outputs={"examples": "instances.jsonl", "tasks": "tasks.jsonl", "datasets": "datasets.jsonl",
                        "rejected": "rejected.jsonl"},
               counts=counts, usage=ledger, failed=len(failed), produced=counts["instances"],
               this_run=facts, model=model)


def read_summary(out: str | Path) -> dict[str, Any]:
    """The manifest of an existing dynosaur run directory (for ``instructkit dynosaur --out DIR``)."""
    m = Path(out) / "manifest.json"
    return json.loads(m.read_text(encoding="utf-8"))
