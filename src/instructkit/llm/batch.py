"""Provider batch jobs: ``openai-batch:MODEL`` (or ``openai-batch:MODEL@http://host/v1``).

The stages await their model calls concurrently as always; this backend holds each request instead of
sending it, and once no new request has arrived for ``window`` seconds (or ``max_per_batch`` are
waiting) it writes them as OpenAI Batch JSONL (``custom_id`` = the door's cache key), uploads the
file (Files API, ``purpose=batch``), creates the batch (``/v1/chat/completions``, ``24h``), records it
beside the response cache (:mod:`instructkit.llm.batch_store`) and polls it. Answers come back through
the door, so they land in the same response cache and ledger as direct calls (priced at the batch rate:
``price_key`` ``batch:MODEL``).

* requests that failed or expired are sent again, alone, in a new batch (at most ``max_attempts``
  batches per request); a batch that failed validation is not resent;
* a request whose key is in a recorded batch that may still hold its answer (a process killed while
  it waited) is answered by polling that batch: a restart never creates a second batch for it;
* closing the backend while batches run (Ctrl-C, a failed stage) cancels them remotely.

The key is read as for ``openai:`` models (``OPENAI_API_KEY``) and is never written anywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from typing import Any

from instructkit.errors import ModelError
from instructkit.llm.base import CURRENT_CALL, BackendInfo, ChatRequest, Completion
from instructkit.llm.batch_store import TERMINAL, BatchStore
from instructkit.llm.openai import OpenAIBackend
from instructkit.llm.usage import note_retry
from instructkit.records import stable_hash

ENDPOINT = "/v1/chat/completions"
ENV_WINDOW, ENV_POLL, ENV_ATTEMPTS = "INSTRUCTKIT_BATCH_WINDOW", "INSTRUCTKIT_BATCH_POLL", "INSTRUCTKIT_BATCH_ATTEMPTS"
MAX_PER_BATCH = 50_000  # the provider's limit on requests in one input file


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        from instructkit.errors import UserError

        raise UserError(f"{name}={raw!r} (in the environment): must be a number") from None
    return value if value > 0 else default


@dataclass
class _Waiting:
    """One request of the stage, waiting for a batch to answer it (several callers may share a key)."""

    key: str
    body: dict[str, Any]
    req: ChatRequest
    futures: list[asyncio.Future] = field(default_factory=list)


class BatchBackend(OpenAIBackend):
    """Chat requests answered through the provider's Batch API. Use through ``open_model("openai-batch:M")``."""

    collects_requests = True  # the door must not throttle collection with its concurrency limiter

    def __init__(self, model: str, base_url: str | None = None, *, window: float | None = None,
                 poll: float | None = None, max_attempts: int | None = None, **options: Any):
        super().__init__(model, base_url=base_url, **options)
        self.info = BackendInfo(spec=self.info.spec.replace("openai:", "openai-batch:", 1),
                                identity=self.info.identity, max_concurrency=MAX_PER_BATCH, can_score=False,
                                price_key=f"batch:{model}")
        self.window = window or _env_number(ENV_WINDOW, 2.0)
        self.poll = poll or _env_number(ENV_POLL, 30.0)
        self.max_attempts = int(max_attempts or _env_number(ENV_ATTEMPTS, 3))
        self.store: BatchStore | None = None
        self._queue: dict[str, _Waiting] = {}
        self._collector: asyncio.Task | None = None
        self._groups: set[asyncio.Task] = set()
        self._served: set[str] = set()  # keys already answered from a recorded batch in this process

    # -- collection ------------------------------------------------------------------------------
    async def chat(self, req: ChatRequest) -> Completion:
        call = CURRENT_CALL.get()
        body = self._chat_kwargs(req, "json_schema" if req.schema is not None else None)
        key = call[0] if call else stable_hash("batch-request", body, length=32)
        if self.store is None and call and getattr(call[1], "path", None) is not None:
            self.store = BatchStore.beside(call[1].path)
        fut = asyncio.get_running_loop().create_future()
        self._queue.setdefault(key, _Waiting(key, body, req)).futures.append(fut)
        if self._collector is None or self._collector.done():
            self._collector = asyncio.create_task(self._collect())
        return await fut

    async def score(self, prompt: Any, continuation: str) -> Any:
        from instructkit.errors import UnsupportedError

        raise UnsupportedError(f"{self.info.spec}: batch jobs carry chat requests only; score text with "
                               "an openai: or local model")

    async def _collect(self) -> None:
        """Send what waits once no request arrived for ``window`` seconds (or a batch is full)."""
        while self._queue:
            seen = -1
            while len(self._queue) != seen and len(self._queue) < MAX_PER_BATCH:
                seen = len(self._queue)
                await asyncio.sleep(self.window)
            keys = list(self._queue)[:MAX_PER_BATCH]
            group = {k: self._queue.pop(k) for k in keys}
            adopted: dict[str, dict[str, _Waiting]] = {}
            for k in list(group):
                bid = self.store.live_batch_for(k) if self.store is not None and k not in self._served else None
                if bid is not None:
                    adopted.setdefault(bid, {})[k] = group.pop(k)
            for bid, items in adopted.items():
                self._start(items, bid)
            if group:
                self._start(group, None)

    def _start(self, items: dict[str, _Waiting], batch_id: str | None) -> None:
        task = asyncio.create_task(self._run_group(items, batch_id))
        self._groups.add(task)
        task.add_done_callback(self._groups.discard)

    # -- one group of requests, through as many batches as it takes ------------------------------------
    async def _run_group(self, items: dict[str, _Waiting], batch_id: str | None) -> None:
        attempt, error = 0, ModelError("no batch was run", kind="batch_failed")
        polling: str | None = None  # the batch being waited for: cancelled remotely if we are
        try:
            while items and attempt < self.max_attempts:
                if batch_id is not None and batch_id.startswith("pending:"):
                    batch_id = await self._resolve_pending(batch_id, list(items))
                adopted = batch_id is not None
                if not adopted:
                    batch_id = await self._submit(items)
                self._served |= set(items)
                polling = batch_id
                try:
                    batch = await self._follow(batch_id)
                except ModelError as e:
                    if not adopted or e.kind != "bad_request":
                        raise
                    # a recorded batch the provider no longer knows (deleted, another account): send anew
                    if self.store is not None:
                        self.store.record(batch_id, status="lost")
                    polling = batch_id = None
                    continue
                polling = None
                error = await self._take_answers(batch, items)
                if batch.status == "failed":  # the file was refused: sending it again would not help
                    break
                batch_id, attempt = None, attempt + 1
        except ModelError as e:
            error = e
        except Exception as e:  # noqa: BLE001 - a bug or a malformed reply must fail the calls, never hang them
            error = ModelError(f"batch handling failed: {type(e).__name__}: {str(e)[:200]}", kind="bad_response")
        except asyncio.CancelledError:
            if polling is not None:
                await self._cancel_remote(polling)
            for w in items.values():
                for f in w.futures:
                    f.cancel()
            raise
        for w in items.values():
            _fail(w, ModelError(self._scrub(f"{self.info.spec}: {error}"), kind=error.kind))

    async def _take_answers(self, batch: Any, items: dict[str, _Waiting]) -> ModelError:
        """Hand the batch's answers to their callers (removed from ``items``); the error of what is left."""
        answers, errors = await self._results(batch, items)
        for key, comp in answers.items():
            _resolve(items.pop(key), comp)
        if batch.status == "failed":
            return ModelError(f"batch {batch.id} failed validation: {_batch_errors(batch)}", kind="bad_request")
        if items:
            note_retry("batch_resubmit")
            from instructkit import ui

            ui.info(f"batch {batch.id} {batch.status}: {len(items)} request(s) failed or expired; "
                    "sending them again in a new batch")
        return ModelError(next(iter(errors.values()), f"batch {batch.id} ended {batch.status}"), kind="batch_failed")

    async def _submit(self, items: dict[str, _Waiting]) -> str:
        """Upload the requests as Batch JSONL, create the batch, record it before it is polled.

        The upload is recorded first (``pending:FILE_ID``): a process killed between creating the batch and
        recording it finds the batch again by its input file on restart, as does a create that timed out."""
        client = self._client()
        lines = "".join(json.dumps({"custom_id": k, "method": "POST", "url": ENDPOINT, "body": w.body},
                                   ensure_ascii=False) + "\n" for k, w in items.items())
        upload = await self._attempts(lambda: client.files.create(
            file=("instructkit-batch.jsonl", lines.encode("utf-8")), purpose="batch"))
        self._record(f"pending:{upload.id}", status="creating", custom_ids=list(items), input_file_id=upload.id)

        async def create_or_find() -> Any:
            return await self._find_batch(upload.id) or await client.batches.create(
                input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h")

        batch = await self._attempts(create_or_find)
        self._adopt_record(batch, upload.id, list(items))
        self._served |= set(items)
        from instructkit import ui

        ui.info(f"batch {batch.id}: {len(items)} request(s) sent to {self.info.spec}")
        return batch.id

    def _record(self, record_id: str, **fields: Any) -> None:
        if self.store is not None:
            self.store.record(record_id, spec=self.info.spec, base_url=self.info.identity.get("base_url"), **fields)

    def _adopt_record(self, batch: Any, input_file_id: str, keys: list[str]) -> None:
        """Record ``batch`` as the one carrying ``keys``; its ``pending:`` upload record is then done."""
        self._record(batch.id, status=batch.status, custom_ids=keys, input_file_id=input_file_id,
                     created_at=batch.created_at)
        self._record(f"pending:{input_file_id}", status="created", batch_id=batch.id)

    async def _find_batch(self, input_file_id: str) -> Any:
        """The provider's batch over ``input_file_id`` among its most recent ones, or None."""
        page = await self._client().batches.list(limit=100)
        return next((b for b in page.data if b.input_file_id == input_file_id), None)

    async def _resolve_pending(self, pending_id: str, keys: list[str]) -> str | None:
        """The batch a killed process created from a recorded upload (now recorded), or None: send anew."""
        file_id = pending_id.split(":", 1)[1]
        batch = await self._attempts(lambda: self._find_batch(file_id))
        if batch is None:
            self._record(pending_id, status="lost")
            return None
        self._adopt_record(batch, file_id, keys)
        return batch.id

    async def _follow(self, batch_id: str) -> Any:
        """Poll until the batch ends, under a progress bar of its ``request_counts``; returns the batch."""
        from instructkit import ui

        client, status, shown = self._client(), None, 0
        with ui.progress(f"batch {batch_id}") as bar:
            while True:
                batch = await self._attempts(lambda: client.batches.retrieve(batch_id))
                counts = batch.request_counts
                done, failed = ((counts.completed + counts.failed, counts.failed) if counts else (0, 0))
                if counts and counts.total:
                    bar.set_total(counts.total)
                bar.advance(max(0, done - shown), note=f"{batch.status} · {failed} failed")
                shown = max(shown, done)
                if batch.status != status and self.store is not None:
                    self.store.record(batch_id, status=batch.status, output_file_id=batch.output_file_id,
                                      error_file_id=batch.error_file_id)
                status = batch.status
                if status in TERMINAL:
                    break
                await asyncio.sleep(self.poll)
        ui.info(f"batch {batch_id}: {status} · {done - failed} answered · {failed} failed")
        return batch

    async def _results(self, batch: Any, items: dict[str, _Waiting]) -> tuple[dict[str, Completion], dict[str, str]]:
        """(answers by key, error text by key) from the batch's output and error files."""
        from openai.types.chat import ChatCompletion

        answers: dict[str, Completion] = {}
        errors: dict[str, str] = {}
        for line in await self._lines(batch.output_file_id) + await self._lines(batch.error_file_id):
            key = line.get("custom_id")
            if key not in items:
                continue
            resp = line.get("response") or {}
            if resp.get("status_code") == 200 and key not in answers:
                try:
                    answers[key] = self._to_completion(ChatCompletion.model_validate(resp["body"]), items[key].req)
                except (ValueError, KeyError, TypeError) as e:
                    errors[key] = f"malformed answer in batch {batch.id} ({type(e).__name__})"
                continue
            err = line.get("error") or (resp.get("body") or {}).get("error") or {}
            errors[key] = (f"batch {batch.id}: request {err.get('code') or resp.get('status_code') or 'failed'}: "
                           f"{str(err.get('message') or '')[:200]}")
        return answers, errors

    async def _lines(self, file_id: str | None) -> list[dict[str, Any]]:
        if not file_id:
            return []
        client = self._client()
        content = await self._attempts(lambda: client.files.content(file_id))
        out = []
        for raw in content.text.splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue  # a torn line: its request counts as unanswered and is sent again
            if isinstance(line, dict):
                out.append(line)
        return out

    async def _cancel_remote(self, batch_id: str) -> None:
        """Ask the provider to cancel ``batch_id`` (best effort, a few seconds at most) and record it."""
        client = self._client()
        try:
            batch = await asyncio.wait_for(client.batches.cancel(batch_id), timeout=min(self.timeout, 10.0))
            status = batch.status
        except Exception:  # noqa: BLE001 - shutting down: the record says what we asked for
            status = "cancelling"  # not adopted on restart: its requests go into a new batch
        if self.store is not None:
            self.store.record(batch_id, status=status)
        from instructkit import ui

        ui.warn(f"batch {batch_id}: cancel requested ({status}); re-run the same command to resume")

    async def aclose(self) -> None:
        """Cancel the collector and every running group (each cancels its remote batch), then close."""
        tasks = [t for t in [self._collector, *self._groups] if t is not None and not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await super().aclose()


def _resolve(w: _Waiting, comp: Completion) -> None:
    for i, f in enumerate(w.futures):
        if not f.done():  # each caller gets its own object: the door parses it in place
            f.set_result(comp if i == 0 else Completion(**{**comp.__dict__}))


def _fail(w: _Waiting, error: ModelError) -> None:
    for f in w.futures:
        if not f.done():
            f.set_exception(error)


def _batch_errors(batch: Any) -> str:
    data = getattr(getattr(batch, "errors", None), "data", None) or []
    return "; ".join(f"line {e.line}: {e.message}" for e in data[:3]) or "no reason given"


def cancel_batch(batch_id: str, base_url: str | None = None, api_key: str | None = None) -> str:
    """Cancel ``batch_id`` on ``base_url`` (default: ``$OPENAI_BASE_URL`` or OpenAI); returns its new status.
    A provider error is a one-line UserError (a finished batch cannot be cancelled)."""
    import openai

    from instructkit.errors import UserError
    from instructkit.redact import redact, register_secret

    key = api_key or os.environ.get("OPENAI_API_KEY") or ""
    if not key and base_url is None:
        raise UserError("batches cancel needs an API key: set OPENAI_API_KEY (or give --base-url)")
    register_secret(key)
    client = openai.OpenAI(api_key=key or "no-key", base_url=base_url, max_retries=2, timeout=30.0)
    try:
        return client.batches.cancel(batch_id).status
    except openai.APIStatusError as e:
        raise UserError(redact(f"cancel {batch_id}: HTTP {e.status_code}: {str(e.message)[:200]}")) from None
    except openai.APIConnectionError as e:
        raise UserError(redact(f"cancel {batch_id}: cannot connect to {base_url or 'OpenAI'} ({e})")) from None
    finally:
        client.close()
