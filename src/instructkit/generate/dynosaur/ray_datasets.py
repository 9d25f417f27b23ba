"""Dynosaur on Ray: one task per dataset-config (task design calls + instance materialization).

Each task runs Dynosaur's own ``process_dataset`` on a worker, with a gated door
(:func:`instructkit.llm.ray_gate.worker_llm`: the cluster-wide concurrency limit and the run's
response cache). The driver awaits the results *in input order* and commits them to the run
directory exactly as the local executor does, so the files, ids and resume behaviour are the same:
a dataset is done once its ``datasets.jsonl`` line is written by the driver; a killed worker's task
is retried by Ray; a killed driver is resumed by re-running the command (answers come from the cache).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

TASK_RETRIES = 3


def _dataset_task(spec: str, cache_path: str, gate: Any, card: Any, cfg: Any,
                  options: Any = None) -> tuple[Any, dict[str, Any]]:
    from instructkit.llm.ray_gate import worker_llm
    from instructkit.generate.dynosaur.pipeline import process_dataset
    from instructkit.llm.usage import UsageLedger

    ledger = UsageLedger()
    llm = worker_llm(spec, cache_path, gate, ledger=ledger, options=options)
    try:
        res = asyncio.run(process_dataset(llm, card, cfg))
    finally:
        if llm.cache is not None:
            llm.cache.close()
    return res, ledger.snapshot()


def dataset_futures(todo: list[Any], cfg: Any, spec: str, cache_path: str, gate: Any,
                    ledger: Any, options: Any = None) -> list[Awaitable[Any]]:
    """One awaitable ``DatasetResult`` per card, in ``todo`` order; usage merges into ``ledger``."""
    import ray

    task = ray.remote(_dataset_task).options(num_cpus=1, max_retries=TASK_RETRIES)
    refs = [task.remote(spec, str(cache_path), gate, card, cfg, options) for card in todo]

    async def result(ref: Any) -> Any:
        res, usage = await ref
        ledger.merge(usage)
        return res

    return [asyncio.ensure_future(result(r)) for r in refs]
