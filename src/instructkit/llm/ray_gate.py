"""LLM calls on Ray: one concurrency limit for the whole cluster, one response cache, no paid call twice.

* :class:`LLMGate` — one async actor per run. A caller must hold one of its ``concurrency`` slots to
  call a model, so the limit is global however many workers there are. It also registers the
  cache key each slot is computing: a second caller on the same key waits for the first and then
  reads the answer from the cache instead of paying for it again.
* Slots are leases: the holder renews every ``lease_s / 3`` seconds while its call runs. A killed
  worker stops renewing, so after ``lease_s`` its slot and its key are free again and the retried
  task (Ray retries tasks whose worker died) can take them. Nothing waits forever.
* The response cache is the run directory's SQLite file (WAL mode: many processes may read and
  write it at once). On a multi-node cluster the run directory must be on a shared filesystem.
* :class:`GateLimiter` is the gate as the door's :class:`~instructkit.llm.Limiter`: the ordinary
  :class:`~instructkit.llm.LLM` (cache, ledger, schema parsing) with the gate in front of every paid
  call. :class:`RemoteBackend` runs a backend's calls as Ray tasks, for stages whose driver keeps
  the orchestration (GLAN's per-node calls). :class:`~instructkit.llm.ModelOptions` travel to the
  workers as data (pickled with the task), never through the environment.

>>> gate = make_gate(concurrency=8)                          # doctest: +SKIP
>>> llm = worker_llm("local", "runs/x/cache.sqlite", gate)   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from instructkit.llm.base import Backend, ChatRequest, Completion, Message, Scored
from instructkit.llm.door import LLM, ModelOptions, make_backend

LEASE_S = 30.0


class LLMGate:
    """Global slots + in-flight cache keys. Run as an async Ray actor (see :func:`make_gate`)."""

    def __init__(self, concurrency: int = 8, lease_s: float = LEASE_S):
        self.capacity = max(1, int(concurrency))
        self.lease_s = float(lease_s)
        self.slots: dict[str, float] = {}     # token -> lease deadline
        self.keys: dict[str, str] = {}        # cache key -> token of the caller computing it
        self.cond = asyncio.Condition()
        self.counts: Counter = Counter()

    def _purge(self) -> None:
        now = time.monotonic()
        for token in [t for t, dl in self.slots.items() if dl < now]:  # holder died: free its slot and key
            del self.slots[token]
            self.counts["expired_leases"] += 1
            for k in [k for k, t in self.keys.items() if t == token]:
                del self.keys[k]

    async def acquire(self, key: str, token: str) -> str:
        """``"go"``: the caller holds a slot and owns ``key``. ``"done"``: another caller finished
        ``key`` while this one waited; read the cache (and acquire again if it is not there)."""
        async with self.cond:
            waited = False
            while True:
                self._purge()
                if key in self.keys:
                    waited = True
                elif waited:
                    self.counts["waited_on_same_key"] += 1
                    return "done"
                elif len(self.slots) < self.capacity:
                    self.slots[token] = time.monotonic() + self.lease_s
                    self.keys[key] = token
                    self.counts["acquired"] += 1
                    self.counts["max_in_flight"] = max(self.counts["max_in_flight"], len(self.slots))
                    return "go"
                try:  # wake on a release, or after a second to purge expired leases
                    await asyncio.wait_for(self.cond.wait(), timeout=1.0)
                except asyncio.TimeoutError:
                    pass

    async def renew(self, token: str) -> bool:
        if token in self.slots:
            self.slots[token] = time.monotonic() + self.lease_s
            return True
        return False

    async def release(self, key: str, token: str) -> None:
        async with self.cond:
            self.slots.pop(token, None)
            if self.keys.get(key) == token:
                del self.keys[key]
            self.cond.notify_all()

    async def lease(self) -> float:
        return self.lease_s

    async def stats(self) -> dict[str, int]:
        return {**dict(self.counts), "capacity": self.capacity, "in_flight": len(self.slots)}


def make_gate(concurrency: int = 8, lease_s: float = LEASE_S) -> Any:
    """Start the gate actor on the cluster (no CPU reserved: it only does bookkeeping)."""
    import ray

    actor = ray.remote(LLMGate).options(num_cpus=0, max_concurrency=10_000, max_restarts=3)
    return actor.remote(concurrency, lease_s)


class GateLimiter:
    """The door's :class:`~instructkit.llm.Limiter` backed by :class:`LLMGate`: a slot is one of the
    cluster's, held as a lease renewed while the call runs; a key another caller just answered
    yields False (the door then reads the cache instead of paying again)."""

    def __init__(self, gate: Any):
        self.gate = gate
        self._lease_s: float | None = None

    async def _renew(self, token: str) -> None:
        if self._lease_s is None:
            self._lease_s = float(await self.gate.lease.remote())
        while True:
            await asyncio.sleep(self._lease_s / 3)
            await self.gate.renew.remote(token)

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[bool]:
        token = uuid.uuid4().hex
        verdict = await self.gate.acquire.remote(key, token)
        if verdict == "done":
            yield False  # someone else paid for it (and released): nothing to renew or release
            return
        renewing = asyncio.ensure_future(self._renew(token))
        try:
            yield True
        finally:
            renewing.cancel()
            await self.gate.release.remote(key, token)


# -- per-process model memo: a worker loads each backend once, however many tasks it runs --------
_BACKENDS: dict[tuple[str, float | None, int | None], Backend] = {}


def process_backend(spec: str, options: ModelOptions | None = None) -> Backend:
    """This worker's backend for ``spec`` (and ``options``' timeout/retries); an embedded model uses
    the CPUs Ray gave the worker, not every core of the machine (two workers on two cores must not
    fight over four threads)."""
    options = options or ModelOptions()
    memo = (spec, options.timeout, options.max_retries)
    if memo not in _BACKENDS:
        extra: dict[str, Any] = {"timeout": options.timeout, "max_retries": options.max_retries}
        try:
            import ray

            if ray.is_initialized():
                cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
                if cpus:
                    extra["n_threads"] = max(1, int(cpus))
        except ImportError:  # pragma: no cover - only reached on Ray workers
            pass
        _BACKENDS[memo] = make_backend(spec, **extra)
    return _BACKENDS[memo]


def worker_llm(spec: str, cache_path: str | None, gate: Any, ledger: Any = None,
               options: ModelOptions | None = None) -> LLM:
    """A gated door on this worker: the process's backend, the shared cache file, a fresh ledger."""
    from instructkit.llm.cache import ResponseCache

    cache = ResponseCache(cache_path) if cache_path else None
    return LLM(process_backend(spec, options), cache=cache, ledger=ledger, options=options,
               limiter=GateLimiter(gate))


# -- a backend whose calls run as Ray tasks (the driver keeps the orchestration) ----------------
def _remote_chat(spec: str, options: ModelOptions, req: ChatRequest) -> Completion:
    return asyncio.run(process_backend(spec, options).chat(req))


def _remote_score(spec: str, options: ModelOptions, prompt: str | list[Message], continuation: str) -> Scored:
    return asyncio.run(process_backend(spec, options).score(prompt, continuation))


class RemoteBackend(Backend):
    """Same identity as ``spec``'s backend (so cache keys match the local executor's), but every
    call is a Ray task on some worker, retried by Ray if that worker dies."""

    def __init__(self, spec: str, max_retries: int = 3, options: ModelOptions | None = None):
        import ray

        self.spec, self.options = spec, options or ModelOptions()
        self.info = make_backend(spec).info  # cheap: backends load their model lazily
        self._chat = ray.remote(_remote_chat).options(num_cpus=1, max_retries=max_retries)
        self._score = ray.remote(_remote_score).options(num_cpus=1, max_retries=max_retries)

    async def chat(self, req: ChatRequest) -> Completion:
        return await _unwrapped(self._chat.remote(self.spec, self.options, req))

    async def score(self, prompt: str | list[Message], continuation: str) -> Scored:
        return await _unwrapped(self._score.remote(self.spec, self.options, prompt, continuation))


async def _unwrapped(ref: Any) -> Any:
    """The task's result; a model error comes back as the worker's own ``ModelError`` (with its
    ``kind``), so the door records and reports it exactly as for a local call."""
    from ray.exceptions import RayTaskError

    from instructkit.errors import ModelError

    try:
        return await ref
    except RayTaskError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, ModelError):
            raise cause from None
        raise


def remote_opener(gate: Any, options: ModelOptions | int | None = None) -> Any:
    """An ``opener(spec) -> LLM`` for stages that take one (GLAN's ``run_glan(opener=...)``)."""
    if not isinstance(options, ModelOptions):  # an int: the old concurrency argument
        options = ModelOptions() if options is None else ModelOptions(concurrency=int(options))

    def opener(spec: str) -> LLM:
        return LLM(RemoteBackend(spec, options=options), options=options, limiter=GateLimiter(gate))

    return opener
