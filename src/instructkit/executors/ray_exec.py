"""The Ray executor: connect to (or start) a Ray cluster and run the heavy stages there.

* any :class:`~instructkit.executors.stage.Stage` (embeddings: ``EmbedStage``) and quality scores:
  Ray Data ``map_batches`` over actor classes that set up once per actor (``StageActor``,
  ``ScoreActor``); rows carry their index, so the driver puts the results back in input order
  whatever order blocks finish in;
* LLM stages (GLAN's opener, judge/IFD scores, Dynosaur's dataset tasks): the gate of
  :mod:`instructkit.llm.ray_gate` keeps one global concurrency limit and one response cache for the
  whole cluster.

It knows no method: the methods' own distributed steps live beside them and use this executor's
``workers`` and ``gate``: MinHash band bucketing (:mod:`instructkit.clean.ray_minhash`), GreeDi
(:mod:`instructkit.select.qdit.greedi`), Dynosaur's per-dataset tasks
(:mod:`instructkit.generate.dynosaur.ray_datasets`).

What stays on the driver: reading inputs, the run directory (every record is appended by the
driver, so resume works exactly as with the local executor), union-find and the final greedy.

>>> ex = RayExecutor(num_cpus=2)                 # doctest: +SKIP
>>> ex.embed(["a cat", "a dog"]).shape           # doctest: +SKIP
(2, 384)
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from instructkit.errors import UserError
from instructkit.executors.stage import check_batch

if TYPE_CHECKING:
    from instructkit.records import Example

EMBED_BATCH = 256


def package_root() -> str:
    """The folder holding the ``instructkit`` package this driver runs."""
    import instructkit

    return str(Path(instructkit.__file__).resolve().parent.parent)


def runtime_env() -> dict[str, Any]:
    """Workers import the driver's instructkit (a source checkout is not on their path otherwise)."""
    root = package_root()
    paths = [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    env = {"PYTHONPATH": os.pathsep.join(paths)}
    # INSTRUCTKIT_OPENAI_*: the user's own defaults; the resolved --timeout/--max-retries travel as ModelOptions
    # INSTRUCTKIT_PROMPTS: workers must render the same (overridden) prompt files as the driver
    for k in ("INSTRUCTKIT_CACHE", "INSTRUCTKIT_PROMPTS", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
              "HF_DATASETS_OFFLINE",
              "INSTRUCTKIT_OPENAI_TIMEOUT", "INSTRUCTKIT_OPENAI_MAX_RETRIES"):
        if k in os.environ:
            env[k] = os.environ[k]
    return {"env_vars": env}


def connect(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address`` (or this process's running Ray, or start a local one)."""
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray; run: pip install 'instructkit[ray]'") from None
    _quiet_ray_data()
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"runtime_env": runtime_env(), "include_dashboard": False,
                              "logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        kwargs["address"] = address
        kwargs.pop("include_dashboard")
    elif num_cpus:
        kwargs["num_cpus"] = int(num_cpus)
    try:
        ray.init(**kwargs)
    except ConnectionError as e:
        raise UserError(f"--ray-address {address}: cannot reach a Ray cluster there ({e}); "
                        "start one with `ray start --head` or leave the flag out for a local Ray") from None


def _quiet_ray_data() -> None:
    # Ray Data logs a progress table per dataset at INFO; our own bars say what is going on
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    logging.getLogger("ray.data").setLevel(logging.WARNING)


class StageActor:
    """Holds one stage per actor (``setup`` once, in ``__init__``); items and outputs travel pickled,
    so a stage may take and return any Python values."""

    def __init__(self, stage: Any):
        self.stage = stage
        stage.setup()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [pickle.loads(b) for b in batch["item"]]
        out = check_batch(self.stage, items, list(self.stage.process_batch(items)))
        return {"idx": batch["idx"], "out": np.array([pickle.dumps(o) for o in out], dtype=object)}


def _actor_class(stage: Any) -> type:
    # the actor class is named after the stage (``embed`` -> ``EmbedActor``), so `ray list actors`
    # and process titles (``ray::MapWorker(MapBatches(EmbedActor))``) say which stage a worker runs
    name = "".join(part.title() for part in str(stage.name).replace("-", "_").split("_")) + "Actor"
    return type(name, (StageActor,), {"__doc__": f"Runs the {stage.name} stage."})


class ScoreActor:
    """Holds one quality scorer per actor: a reward model, or an LLM (judge / IFD) behind the gate."""

    def __init__(self, spec: str, model: str | None, cache_path: str | None, gate: Any, options: Any = None):
        from instructkit.score import needs_model

        self.spec, self.llm = spec, None
        if needs_model(spec):
            from instructkit.llm.ray_gate import worker_llm

            self.llm = worker_llm(model or "local", cache_path, gate, options=options)
        elif spec.startswith("reward:"):
            from instructkit.score.reward import _load

            path = Path(spec[len("reward:"):]).expanduser()
            if path.is_dir():
                _load(path)  # cached per process: every batch of this actor reuses it

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import json

        from instructkit.records import Example
        from instructkit.score import score_examples

        exs = [Example.from_dict(json.loads(r)) for r in batch["record"]]
        usage = [""] * len(exs)
        if self.llm is not None:
            from instructkit.llm.usage import UsageLedger

            self.llm.ledger = UsageLedger()  # this batch's calls, merged by the driver
        rep = score_examples(exs, self.spec, llm=self.llm)
        if self.llm is not None and usage:
            usage[0] = json.dumps(self.llm.ledger.snapshot())
        details = [json.dumps(d, default=str) for d in rep.details]
        return {"idx": batch["idx"], "score": np.asarray(rep.scores, dtype=np.float64),
                "details": np.array(details, dtype=object), "usage": np.array(usage, dtype=object)}


class RayExecutor:
    """Runs stages on Ray. ``workers``: actors / tasks in flight per stage (default: cluster CPUs)."""

    name = "ray"
    remote = True

    def __init__(self, address: str | None = None, workers: int | None = None, num_cpus: int | None = None):
        connect(address, num_cpus)
        import ray

        self.address = address
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, int(workers or cpus))
        self._gate = None
        self.lease_s: float | None = None  # LLM gate lease (None: ray_llm.LEASE_S)

    # -- any stage -----------------------------------------------------------------------------
    def map(self, stage: Any, items: Sequence[Any], progress: Callable[[int], Any] | None = None) -> list[Any]:
        """Ray Data ``map_batches`` of ``stage`` over an actor pool; outputs back in input order."""
        import ray

        n = len(items)
        if n == 0:
            return []
        batch = max(1, int(stage.batch_size))
        ds = ray.data.from_items([{"idx": i, "item": pickle.dumps(x)} for i, x in enumerate(items)],
                                 override_num_blocks=self._blocks(n, batch))
        out = ds.map_batches(_actor_class(stage), fn_constructor_kwargs={"stage": stage}, batch_size=batch,
                             compute=_pool(min(self.workers, self._blocks(n, batch))), num_cpus=stage.cpus,
                             batch_format="numpy")
        results = [pickle.loads(b) for b in _gather(out, n, "out")]
        if progress:
            progress(n)
        return results

    # -- embeddings ----------------------------------------------------------------------------
    def embed(self, texts: Sequence[str], embedder: str = "minilm") -> np.ndarray:
        """:class:`~instructkit.embed.EmbedStage` over the actor pool; rows back in input order."""
        from instructkit.embed import EmbedStage, resolve_embedder

        resolve_embedder(embedder)  # a bad spec fails here, on the driver, with the usual message
        if len(texts) == 0:
            return np.zeros((0, 384), dtype=np.float32)
        vecs = self.map(EmbedStage(embedder, batch_size=EMBED_BATCH), [str(t) for t in texts])
        return np.stack(vecs).astype(np.float32, copy=False)

    # -- quality scores ------------------------------------------------------------------------
    def score(self, examples: list["Example"], spec: str, model: str | None = None,
              cache_path: str | None = None, concurrency: int = 8, options: Any = None) -> Any:
        """``score_examples`` as ``map_batches`` over :class:`ScoreActor` (column scores stay local)."""
        import json

        import ray

        from instructkit.score import needs_model, score_examples
        from instructkit.score.llm_scorers import ScoreReport

        if not (needs_model(spec) or spec.startswith("reward:")):
            return score_examples(examples, spec)  # a column read: nothing worth shipping
        n = len(examples)
        gate = self.gate(concurrency) if needs_model(spec) else None
        batch = 16 if needs_model(spec) else 64
        ds = ray.data.from_items([{"idx": i, "record": json.dumps(ex.to_dict())} for i, ex in enumerate(examples)],
                                 override_num_blocks=self._blocks(n, batch))
        out = ds.map_batches(ScoreActor, fn_constructor_kwargs={"spec": spec, "model": model,
                                                                "cache_path": cache_path, "gate": gate,
                                                                "options": options},
                             batch_size=batch, compute=_pool(min(self.workers, self._blocks(n, batch))),
                             num_cpus=1, batch_format="numpy")
        rows = _gather_rows(out, n, ("score", "details", "usage"))
        details = [json.loads(d) for d in rows["details"]]
        scores = np.asarray(rows["score"], dtype=np.float64)
        counts: dict[str, int] = {}
        for d in details:
            m = str(d.get("method", "none"))
            counts[m] = counts.get(m, 0) + 1
        # an unrated example gets the median of the rated ones over the whole pool, as locally
        # (each batch filled its own unrated rows with its batch's median)
        bad = np.array([d.get("method", "none") == "none" for d in details], dtype=bool)
        counts["unrated"] = int(bad.sum())
        if bad.any() and needs_model(spec):
            scores[bad] = float(np.median(scores[~bad])) if (~bad).any() else 0.0
        report = ScoreReport(scores=scores, details=details, counts=counts)
        if needs_model(spec):
            from instructkit.llm.usage import UsageLedger

            ledger = UsageLedger()
            for u in rows["usage"]:
                if u:
                    ledger.merge(json.loads(u))
            report.usage = ledger.snapshot()  # type: ignore[attr-defined]
        return report

    # -- LLM stages ----------------------------------------------------------------------------
    def gate(self, concurrency: int) -> Any:
        """The cluster-wide LLM gate (global concurrency limit + in-flight registry), made once."""
        if self._gate is None:
            from instructkit.llm.ray_gate import make_gate

            self._gate = make_gate(concurrency, **({"lease_s": self.lease_s} if self.lease_s else {}))
        return self._gate

    def llm_opener(self, concurrency: int, options: Any = None) -> Any:
        """``opener(spec) -> LLM`` whose calls run as Ray tasks behind the gate (GLAN's per-node calls)."""
        from instructkit.llm import ModelOptions
        from instructkit.llm.ray_gate import remote_opener

        return remote_opener(self.gate(concurrency), (options or ModelOptions()).replace(concurrency=concurrency))

    # -- bookkeeping ---------------------------------------------------------------------------
    def _blocks(self, n: int, batch: int) -> int:
        # a few blocks per worker: enough to balance, few enough that per-block overhead stays small
        return max(1, min(-(-n // batch), 4 * self.workers))

    def describe(self) -> dict[str, Any]:
        import ray

        res = ray.cluster_resources()
        return {"executor": "ray", "ray_address": self.address or "local", "workers": self.workers,
                "cluster_cpus": res.get("CPU", 0), "nodes": len([n for n in ray.nodes() if n.get("Alive")]),
                "ray_version": ray.__version__}

    def close(self) -> None:
        if self._gate is not None:
            import ray

            ray.kill(self._gate)
            self._gate = None


def _gather(ds: Any, n: int, column: str) -> np.ndarray:
    return _gather_rows(ds, n, (column,))[column]


def _gather_rows(ds: Any, n: int, columns: tuple[str, ...]) -> dict[str, Any]:
    """Collect ``columns`` of a dataset whose rows carry ``idx``; every index must come back once."""
    parts: dict[str, list[Any]] = {c: [] for c in columns}
    idx_parts: list[np.ndarray] = []
    for b in ds.iter_batches(batch_format="numpy", batch_size=None):
        idx_parts.append(np.asarray(b["idx"], dtype=np.int64))
        for c in columns:
            parts[c].append(np.asarray(b[c]))
    idx = np.concatenate(idx_parts) if idx_parts else np.zeros(0, dtype=np.int64)
    if len(idx) != n or not np.array_equal(np.sort(idx), np.arange(n)):
        raise RuntimeError(f"ray stage returned {len(idx)} rows for {n} inputs")  # never silently lose rows
    order = np.argsort(idx, kind="stable")
    return {c: np.concatenate(parts[c])[order] for c in columns}


def _pool(size: int) -> Any:
    """A fixed pool of ``size`` actors (each loads its model once and serves many batches)."""
    import ray.data

    return ray.data.ActorPoolStrategy(size=max(1, size))
