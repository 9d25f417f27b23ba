"""Where heavy stages run: in this process (``local``) or on a Ray cluster (``ray``).

Stages stay plain functions of records (Dynosaur's ``process_dataset``, GLAN's per-node calls,
``embed_texts``, ``score_examples``, the MinHash signatures, ``qdit_select``); an executor only
decides where they run. Both executors give the same ids and records for the same inputs (order
may differ), so ``--executor`` is a deployment choice, never a change of results. The one
documented exception: QDIT on a pool split into several partitions is GreeDi (an approximation
whose objective is reported against single-machine selection); a pool that fits one partition
is selected exactly as locally.

Ray is imported only when a Ray executor is made, so ``instructkit --help`` never loads it.

>>> ex = get_executor("local")
>>> ex.name
'local'
>>> ex.embed(["a cat", "a dog"]).shape       # doctest: +SKIP
(2, 384)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from instructkit.errors import UserError
from instructkit.executors.stage import Executor as StageExecutor
from instructkit.executors.stage import Stage, run_batches

if TYPE_CHECKING:
    from instructkit.records import Example

In = TypeVar("In")
Out = TypeVar("Out")

EXECUTORS = ("local", "ray")


class Executor(StageExecutor, Protocol):
    """What a heavy stage asks of the place it runs on: ``map`` any :class:`Stage`, plus the shared
    services every method may use (embeddings, quality scores, the LLM gate).

    Executors know no method: code special to one method's distribution (MinHash banding, GreeDi,
    Dynosaur's per-dataset tasks) lives beside that method and asks only ``remote`` and ``workers``."""

    name: str
    remote: bool  # True when stages run in other processes (a Ray cluster); False: this process
    workers: int  # parallel workers a method may split its work over

    def embed(self, texts: Sequence[str], embedder: str = "minilm") -> np.ndarray:
        """(n, d) unit float32 vectors, row i for ``texts[i]``."""

    def score(self, examples: list["Example"], spec: str, model: str | None = None,
              cache_path: str | None = None, concurrency: int = 8, options: Any = None) -> Any:
        """A ``ScoreReport`` (one quality score per example, in input order)."""

    def llm_opener(self, concurrency: int, options: Any = None) -> Any:
        """An ``opener(spec) -> LLM`` for stages that take one (GLAN), or None (the stage's own)."""


class LocalExecutor:
    """Everything in this process: the stages' own code paths, unchanged."""

    name = "local"
    remote = False
    workers = 1

    def map(self, stage: Stage[In, Out], items: Sequence[In],
            progress: Callable[[int], Any] | None = None) -> list[Out]:
        """``stage`` over ``items`` here, batch after batch, in order."""
        return run_batches(stage, items, progress)

    def embed(self, texts: Sequence[str], embedder: str = "minilm") -> np.ndarray:
        from instructkit.embed import embed_texts

        return embed_texts(list(texts), embedder=embedder)

    def score(self, examples: list["Example"], spec: str, model: str | None = None,
              cache_path: str | None = None, concurrency: int = 8, options: Any = None) -> Any:
        from instructkit.score import needs_model, score_examples

        llm = None
        if needs_model(spec):
            from instructkit.llm import open_model

            llm = open_model(model or "local", cache=cache_path, options=options, concurrency=concurrency)
        return score_examples(examples, spec, llm=llm)

    def llm_opener(self, concurrency: int, options: Any = None) -> Any:
        return None

    def describe(self) -> dict[str, Any]:
        return {"executor": "local"}

    def close(self) -> None:
        pass


def check_executor(kind: str, address: str | None = None) -> str:
    """Validate ``--executor`` / ``--ray-address`` before any work (no Ray import)."""
    kind = (kind or "local").strip().lower()
    if kind not in EXECUTORS:
        raise UserError(f"--executor '{kind}' not understood; use {' or '.join(EXECUTORS)}")
    if kind == "local" and address:
        raise UserError("--ray-address is only used with --executor ray")
    return kind


def get_executor(kind: str = "local", address: str | None = None, workers: int | None = None,
                 num_cpus: int | None = None) -> Executor:
    """The executor named by ``--executor`` (``local`` | ``ray``).

    ``address``: a Ray cluster (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``); None starts a
    local Ray (``num_cpus`` of this machine) or joins the one this process already started.
    ``workers``: parallel actors/tasks per stage (default: the cluster's CPUs).
    """
    import logging

    logging.getLogger(__name__).debug("executor %s (address %s, workers %s)", kind, address or "-", workers or "auto")
    if check_executor(kind, address) == "local":
        return LocalExecutor()
    from instructkit.executors.ray_exec import RayExecutor

    return RayExecutor(address=address, workers=workers, num_cpus=num_cpus)

