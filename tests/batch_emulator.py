"""A local emulator of OpenAI's Files + Batches API, for tests (no open-source server implements it).

It follows the public API reference (https://platform.openai.com/docs/api-reference/batch):

* ``POST /v1/files`` (multipart, ``purpose=batch``), ``GET /v1/files/{id}/content``;
* ``POST /v1/batches`` (``input_file_id``, ``endpoint``, ``completion_window``), ``GET /v1/batches/{id}``,
  ``POST /v1/batches/{id}/cancel``, ``GET /v1/batches``;
* status moves validating -> in_progress -> finalizing -> completed (or failed / expired /
  cancelling -> cancelled); ``request_counts`` {total, completed, failed} is updated as lines run;
* output lines ``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error": null}``;
  error-file lines carry a non-200 ``response`` or, for expired/cancelled requests, ``"response": null``
  and ``"error": {"code": "batch_expired" | "batch_cancelled", "message"}``.

Each request line really runs, one at a time, against ``upstream`` (a llama.cpp server). llama-cpp-python's
server takes a schema as ``{"type": "json_object", "schema": ...}``, so a ``json_schema`` response_format
is passed on in that form. Faults are injected on purpose: ``fail_once`` (the first N distinct custom_ids
answer HTTP 500 the first time they are seen), ``expire_batches`` (the first N batches expire after
``expire_after`` lines), ``delay`` (seconds per line) and ``hold`` (an Event: lines wait until it is set).

Not covered: file size/line limits, per-model validation, rate limits, the 24 h window as a clock,
``/v1/responses`` and embeddings endpoints, pagination (``after``/``limit``), file deletion.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

TERMINAL = ("completed", "failed", "expired", "cancelled")


class BatchEmulator:
    """Serve the Files + Batches API on 127.0.0.1 (a free port); ``url`` is its ``/v1`` base."""

    def __init__(self, upstream: str, *, api_key: str | None = None, fail_once: int = 0,
                 expire_batches: int = 0, expire_after: int = 1, delay: float = 0.0):
        self.upstream = upstream.rstrip("/")
        self.api_key = api_key
        self.fail_once, self.expire_batches, self.expire_after = fail_once, expire_batches, expire_after
        self.delay = delay
        self.hold = threading.Event()
        self.hold.set()  # cleared by a test to keep batches in_progress
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_custom_ids: dict[str, list[str]] = {}   # what each batch asked, in creation order
        self.seen: Counter = Counter()                      # custom_id -> times run
        self.failed_ids: list[str] = []                     # custom_ids answered with an injected 500
        self.auth_failures = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> "BatchEmulator":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.hold.set()
        self._server.shutdown()
        self._server.server_close()

    # -- files -----------------------------------------------------------------------------------
    def _add_file(self, data: bytes, filename: str, purpose: str) -> dict[str, Any]:
        fid = "file-" + uuid.uuid4().hex[:24]
        meta = {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose}
        self.files[fid] = {"meta": meta, "data": data}
        return meta

    # -- batches ---------------------------------------------------------------------------------
    def _create_batch(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        fid = body.get("input_file_id")
        if fid not in self.files:
            return 404, _error(f"No such File object: {fid}", "invalid_request_error")
        if body.get("completion_window") != "24h" or body.get("endpoint") != "/v1/chat/completions":
            return 400, _error("completion_window must be 24h and endpoint /v1/chat/completions", "invalid_request_error")
        now = int(time.time())
        bid = "batch_" + uuid.uuid4().hex[:24]
        batch = {"id": bid, "object": "batch", "endpoint": body["endpoint"], "errors": None, "input_file_id": fid,
                 "completion_window": "24h", "status": "validating", "output_file_id": None, "error_file_id": None,
                 "created_at": now, "in_progress_at": None, "expires_at": now + 86400, "finalizing_at": None,
                 "completed_at": None, "failed_at": None, "expired_at": None, "cancelling_at": None,
                 "cancelled_at": None, "request_counts": {"total": 0, "completed": 0, "failed": 0},
                 "metadata": body.get("metadata")}
        with self._lock:
            expire = len(self.batches) < self.expire_batches
            self.batches[bid] = batch
        threading.Thread(target=self._work, args=(bid, expire), daemon=True).start()
        return 200, dict(batch)

    def _validate(self, batch: dict[str, Any]) -> list[dict[str, Any]] | None:
        lines, ids, errors = [], set(), []
        for n, raw in enumerate(self.files[batch["input_file_id"]]["data"].decode().splitlines(), 1):
            try:
                line = json.loads(raw)
            except ValueError:
                errors.append({"code": "invalid_json_line", "line": n, "message": "not JSON", "param": None})
                continue
            if line.get("method") != "POST" or line.get("url") != batch["endpoint"] or line.get("custom_id") in ids:
                errors.append({"code": "invalid_request", "line": n, "message": "bad method, url or duplicate "
                               "custom_id", "param": None})
            ids.add(line.get("custom_id"))
            lines.append(line)
        if errors or not lines:
            batch.update(status="failed", failed_at=int(time.time()),
                         errors={"object": "list", "data": errors or [{"code": "empty_file", "line": None,
                                                                       "message": "no requests", "param": None}]})
            return None
        return lines

    def _work(self, bid: str, expire: bool) -> None:
        batch = self.batches[bid]
        lines = self._validate(batch)
        if lines is None:
            return
        with self._lock:
            self.batch_custom_ids[bid] = [ln["custom_id"] for ln in lines]
        batch.update(status="in_progress", in_progress_at=int(time.time()))
        batch["request_counts"]["total"] = len(lines)
        out, err = [], []
        for i, line in enumerate(lines):
            while not self.hold.wait(0.05):
                if batch["status"] == "cancelling":
                    break
            stop = ("batch_cancelled" if batch["status"] == "cancelling"
                    else "batch_expired" if expire and i >= self.expire_after else None)
            if stop:
                err += [_line(ln["custom_id"], None, {"code": stop, "message": f"This request could not be "
                        f"executed before the batch was {stop[6:]}."}) for ln in lines[i:]]
                break
            status, body = self._run_one(line)
            (out if status == 200 else err).append(_line(line["custom_id"], {"status_code": status, "request_id":
                                                   "req_" + uuid.uuid4().hex[:16], "body": body}, None))
            batch["request_counts"]["completed" if status == 200 else "failed"] += 1
        self._finish(batch, out, err)

    def _run_one(self, line: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        cid = line["custom_id"]
        with self._lock:
            self.seen[cid] += 1
            inject = self.seen[cid] == 1 and len(self.failed_ids) < self.fail_once
            if inject:
                self.failed_ids.append(cid)
        if self.delay:
            time.sleep(self.delay)
        if inject:
            return 500, _error("injected server error", "server_error")
        body = dict(line["body"])
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":  # llama-cpp-python's spelling of the same constraint
            body["response_format"] = {"type": "json_object", "schema": fmt["json_schema"]["schema"]}
        try:
            r = httpx.post(self.upstream + "/chat/completions", json=body, timeout=300)
            return r.status_code, r.json()
        except (httpx.HTTPError, ValueError) as e:
            return 502, _error(f"upstream: {type(e).__name__}", "server_error")

    def _finish(self, batch: dict[str, Any], out: list[str], err: list[str]) -> None:
        cancelled = batch["status"] == "cancelling"
        batch.update(status="finalizing", finalizing_at=int(time.time())) if not cancelled else None
        if out:
            batch["output_file_id"] = self._add_file("".join(out).encode(), "batch_output.jsonl", "batch_output")["id"]
        if err:
            batch["error_file_id"] = self._add_file("".join(err).encode(), "batch_errors.jsonl", "batch_output")["id"]
        expired = any('"batch_expired"' in e for e in err)
        now = int(time.time())
        if cancelled:
            batch.update(status="cancelled", cancelled_at=now)
        elif expired:
            batch.update(status="expired", expired_at=now)
        else:
            batch.update(status="completed", completed_at=now)

    def _cancel(self, bid: str) -> tuple[int, dict[str, Any]]:
        batch = self.batches.get(bid)
        if batch is None:
            return 404, _error(f"No such batch: {bid}", "invalid_request_error")
        if batch["status"] in ("validating", "in_progress"):
            batch.update(status="cancelling", cancelling_at=int(time.time()))
        elif batch["status"] not in ("cancelling", "cancelled"):
            return 409, _error(f"Cannot cancel a batch with status '{batch['status']}'.", "invalid_request_error")
        return 200, dict(batch)

    def created_for(self, custom_id: str) -> list[str]:
        """The batches that asked ``custom_id`` (a request must never be in two live batches)."""
        return [b for b, ids in self.batch_custom_ids.items() if custom_id in ids]

    # -- HTTP ------------------------------------------------------------------------------------
    def _route(self, method: str, path: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        if self.api_key is not None and headers.get("Authorization") != f"Bearer {self.api_key}":
            self.auth_failures += 1
            return 401, _error("Incorrect API key provided", "invalid_request_error")
        parts = [p for p in path.split("?")[0].split("/") if p][1:]  # drop "v1"
        if method == "POST" and parts == ["files"]:
            fields = _multipart(headers.get("Content-Type", ""), raw)
            if fields.get("purpose", (b"",))[0] != b"batch" or "file" not in fields:
                return 400, _error("purpose must be 'batch' and a file given", "invalid_request_error")
            return 200, self._add_file(fields["file"][0], fields["file"][1] or "input.jsonl", "batch")
        if method == "GET" and len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            f = self.files.get(parts[1])
            return (200, f["data"]) if f else (404, _error("No such File object", "invalid_request_error"))
        if method == "POST" and parts == ["batches"]:
            return self._create_batch(json.loads(raw or b"{}"))
        if method == "GET" and parts == ["batches"]:
            data = [dict(b) for b in reversed(list(self.batches.values()))]
            return 200, {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                         "last_id": data[-1]["id"] if data else None, "has_more": False}
        if method == "GET" and len(parts) == 2 and parts[0] == "batches":
            b = self.batches.get(parts[1])
            return (200, dict(b)) if b else (404, _error("No such batch", "invalid_request_error"))
        if method == "POST" and len(parts) == 3 and parts[0] == "batches" and parts[2] == "cancel":
            return self._cancel(parts[1])
        return 404, _error(f"unknown route {method} {path}", "invalid_request_error")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emu = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = emu._route(method, self.path, self.headers, raw)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream" if isinstance(body, bytes)
                                 else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _line(custom_id: str, response: dict[str, Any] | None, error: dict[str, Any] | None) -> str:
    return json.dumps({"id": "batch_req_" + uuid.uuid4().hex[:16], "custom_id": custom_id,
                       "response": response, "error": error}) + "\n"


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[bytes, str | None]]:
    """Form fields of a multipart/form-data body: name -> (bytes, filename)."""
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    out: dict[str, tuple[bytes, str | None]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            out[name] = (part.get_payload(decode=True) or b"", part.get_filename())
    return out
