"""A ``Stage`` says how to process a batch and what it needs; an ``Executor`` maps stages over items.

Executors know no method: a stage (``embed.EmbedStage``, ...) lives beside the code it wraps, and
the same stage runs in this process (:class:`instructkit.executor.LocalExecutor`) or on a Ray actor
pool (:class:`instructkit.executors.ray_exec.RayExecutor`) with the same results, in input order.

>>> class Upper:
...     name, batch_size, cpus = "upper", 2, 1.0
...     def setup(self): pass
...     def process_batch(self, items): return [s.upper() for s in items]
>>> run_batches(Upper(), ["a", "b", "c"])
['A', 'B', 'C']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Stage(Protocol[In, Out]):
    """One step of work over items, in batches."""

    name: str            # also names the Ray actors that run it (``embed`` -> ``EmbedActor``)
    batch_size: int      # items per ``process_batch`` call
    cpus: float          # what an executor reserves per worker

    def setup(self) -> None:
        """Load what the batches need (a model), once per worker."""

    def process_batch(self, items: list[In]) -> list[Out]:
        """One output per item, same length, same order."""


class Executor(Protocol):
    """Where stages run: maps a stage over items, results in input order."""

    name: str

    def map(self, stage: Stage[In, Out], items: Sequence[In],
            progress: Callable[[int], Any] | None = None) -> list[Out]:
        """``stage`` over ``items``; ``progress(n)`` is told as items are done."""

    def describe(self) -> dict[str, Any]:
        """What the manifest records about where the work ran."""

    def close(self) -> None:
        ...


def check_batch(stage: Stage[Any, Any], items: list[Any], out: list[Any]) -> list[Any]:
    """A batch's outputs, after checking there is exactly one per item (a lost row is a bug, never data)."""
    if len(out) != len(items):
        raise RuntimeError(f"stage {stage.name} returned {len(out)} outputs for {len(items)} items")
    return out


def run_batches(stage: Stage[In, Out], items: Sequence[In],
                progress: Callable[[int], Any] | None = None) -> list[Out]:
    """``stage`` over ``items`` in this process: set up once, then batch after batch."""
    items = list(items)
    if not items:
        return []
    stage.setup()
    out: list[Out] = []
    size = max(1, int(stage.batch_size))
    for s in range(0, len(items), size):
        batch = items[s:s + size]
        out.extend(check_batch(stage, batch, list(stage.process_batch(batch))))
        if progress:
            progress(len(batch))
    return out
