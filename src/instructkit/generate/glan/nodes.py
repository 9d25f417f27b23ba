"""The one GLAN node loop: plan -> call -> append or reject, declared once per stage.

Every GLAN stage is a set of nodes: a subject sample of a discipline, its extraction, a syllabus
of a subject, its extraction, a homework question, an answer. A :class:`NodeStage` declares, for
one stage, what the id of a node is, how its prompt is built and sampled, how a reply becomes
the node's record, and what a rejection names; :func:`run_nodes` runs every stage the same way:

1. **plan**: the nodes' ids; a node whose id is already in the stage's stream is done (resume);
   a node the stage can drop before any call (``precheck``, e.g. a draw space that ran out) is
   rejected with its reason and never called;
2. **call**: the template rendered with the node's variables, sent through :meth:`Ctx.chat`,
   which accounts the call to its stage and discipline;
3. **append or reject**: a model error rejects the node with ``model_error:<kind>`` and leaves it
   without a record, so the next run retries it; a reply becomes the node's record, appended to
   the stream, and a record that carries a ``failure`` is also rejected with that reason (a
   failure is an answer, so it is not retried) - unless the answer failed its schema (after the
   door's bounded retries) and nothing was salvaged from it: that is ``model_error:bad_answer``,
   retried like any model error (a salvage is kept, marked ``repaired``);
4. **account**: planned / done / failed / missing (and repaired) per stage, for the manifest.

Ids, records and prompts are the stage's own: this loop adds nothing to them, so the streams and
the cache keys are what the six hand-written loops it replaces wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from instructkit.errors import ModelError
from instructkit.generate.glan import prompts
from instructkit.generate.glan.context import Ctx, run_jobs

if TYPE_CHECKING:
    from instructkit.llm import Completion

N = TypeVar("N")


def _no_details(record: dict[str, Any]) -> dict[str, Any]:
    return {}


def _never(node: Any) -> str | None:
    return None


@dataclass(frozen=True)
class NodeStage(Generic[N]):
    """What one GLAN stage is, as data: how its nodes are named, asked, recorded and counted."""

    stage: str                                          # manifest stages.<stage> and rejected.jsonl's stage
    calls: str                                          # whose model answers and whose call accounting
    progress: str                                       # the progress bar's label
    stream: str                                         # <stream>.jsonl: one record per finished node
    template: str                                       # generate/prompts/<template>.j2
    node_id: Callable[[N], str]
    discipline: Callable[[N], str]                      # requests are counted per discipline
    variables: Callable[[N], dict[str, Any]]            # the template's variables (format_input)
    sampling: Callable[[N], dict[str, Any]]             # temperature, max_tokens, seed, schema ...
    record: Callable[[N, "Completion"], dict[str, Any]]  # the reply as the node's record (format_output)
    context: Callable[[N], dict[str, Any]]              # what a rejection names the node by
    failure_details: Callable[[dict[str, Any]], dict[str, Any]] = _no_details  # more for a failed record
    precheck: Callable[[N], str | None] = _never        # a reason to drop the node without a call


def _bad_answer(res: Any) -> bool:
    """An answer that failed its schema, not because it was cut at max_tokens (that one is the model's)."""
    return bool(getattr(res, "parse_error", None)) and getattr(res, "finish_reason", "") != "length"


async def run_nodes(ctx: Ctx, st: NodeStage[N], nodes: list[N], generate: bool) -> dict[str, dict[str, Any]]:
    """Run ``st`` over ``nodes`` (calls only when ``generate``); returns the stream's records by id.

    Every node is accounted as planned, whatever happened to it; see the module docstring.
    """
    stream = ctx.run.stream(st.stream)
    spec = ctx.cfg.model_for(st.calls)
    version = prompts.version(st.template)

    async def one(node: N) -> None:
        nid = st.node_id(node)
        messages, _ = prompts.render(st.template, **st.variables(node))
        res = await ctx.chat(st.calls, st.discipline(node), spec, messages, version, **st.sampling(node))
        if isinstance(res, ModelError):
            ctx.run.reject(nid, f"model_error:{res.kind}", stage=st.stage, error=str(res)[:300], **st.context(node))
            return
        record = st.record(node, res)
        if record.get("failure") and _bad_answer(res):
            # the answer failed its schema after the door's retries and nothing could be salvaged:
            # a transient fault (a proxy's garbage 200), not the model's answer, so it is a model error
            # like a 500: no record, retried by the next run, counted by kind (never kept for good)
            ctx.stages[st.calls].model_errors["bad_answer"] += 1
            ctx.run.reject(nid, "model_error:bad_answer", stage=st.stage, error=str(res.parse_error)[:300],
                           **st.context(node), **st.failure_details(record))
            return
        stream.append(record)
        if record.get("failure"):
            ctx.run.reject(nid, record["failure"], stage=st.stage, **st.context(node), **st.failure_details(record))

    callable_nodes = []
    for node in nodes:
        reason = st.precheck(node)
        if reason:  # idempotent: rejected.jsonl holds it once however often the run is repeated
            ctx.run.reject(st.node_id(node), reason, stage=st.stage, **st.context(node))
        else:
            callable_nodes.append(node)
    if generate:
        await run_jobs(st.progress, [lambda n=n: one(n) for n in callable_nodes if not stream.has(st.node_id(n))],
                       ctx.pool.ledger)
    records = {r["id"]: r for r in stream.records()}
    ctx.account(st.stage, [st.node_id(n) for n in nodes], records)
    return records
