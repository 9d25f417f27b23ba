"""The fault-injecting reverse proxy for OpenAI-compatible servers (tests and the fault soak).

An allowed fake: it only injects faults, in front of a real server (``instructkit.llm.llama_server``)
or of nothing at all. Two ways to break requests, usable together:

**Chosen answers** (``status=``): every request that ``fail_when(body)`` picks (default: all;
without a target: every request) is answered with that HTTP status (401: a bad key; 500: a broken
server) and an error body; ``delay=`` makes every request wait first (a server that hangs).
``seen`` / ``failed`` count the requests and the ones answered so; ``refused_url()`` is an address
nothing listens on.

**Seeded random faults** (``rate=``): a seeded RNG picks which POSTs fail and how, so a run is
repeatable:

* ``rate_limit``  - 429 with ``Retry-After: 0``
* ``server``      - 500 with a JSON error body (``echo_auth``: quoting the request's Authorization header)
* ``hang``        - holds the request ``hang_s`` seconds (longer than the client's timeout), then drops it
* ``truncated``   - forwards, then sends the real answer's headers and only half its body
* ``garbage``     - 200 whose answer content is garbage: for a request that asks for JSON
  (``response_format``) a valid envelope around prose no schema accepts (the case a cache must
  not keep); for any other request a body that is not JSON at all (``text/html``), since
  garbage prose inside a free-text answer is indistinguishable from an answer
* ``reset``       - closes the connection without a reply (TCP RST)

>>> with FaultProxy("http://127.0.0.1:8080/v1", rate=0.2, seed=0) as proxy:   # doctest: +SKIP
...     open_model(f"openai:smol@{proxy.url}")
>>> with FaultProxy(None, status=401) as bad:                                  # doctest: +SKIP
...     open_model(f"openai:smol@{bad.url}")   # every call: HTTP 401
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from instructkit.llm.llama_server import free_port

KINDS = ("rate_limit", "server", "hang", "truncated", "garbage", "reset")
GARBAGE = "<html><body>502 Bad Gateway (upstream hiccup) ¯\\_(ツ)_/¯</body></html>"


def refused_url() -> str:
    """An OpenAI-style base URL on 127.0.0.1 where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}/v1"


class FaultProxy:
    """Forwards to ``target`` (None: nothing behind it); breaks requests as the module docstring says.

    ``counts`` holds ``requests`` (POSTs), ``forwarded`` and one entry per injected random kind.
    """

    def __init__(self, target: str | None = None, rate: float = 0.0, seed: int = 0, kinds: tuple[str, ...] = KINDS,
                 hang_s: float = 6.0, echo_auth: bool = False, status: int | None = None,
                 fail_when: Callable[[bytes], bool] | None = None, delay: float = 0.0):
        t = urlsplit(target or "http://127.0.0.1:9/v1")
        self.target = target
        self.host, self.port, self.hang_s = t.hostname, t.port, float(hang_s)
        self.rate, self.kinds, self.echo_auth = float(rate), tuple(kinds), echo_auth
        self.status = status if status is not None or target else 500
        self.fail_when = fail_when if fail_when is not None else (lambda body: True)
        self.delay = float(delay)
        self.rng = random.Random(seed)
        self.counts: Counter = Counter()
        self.seen = self.failed = 0
        self.lock = threading.Lock()
        self.headers_seen: list[dict[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                if not proxy._answer_status(self, b""):
                    proxy._forward(self, b"")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                proxy.headers_seen.append(dict(self.headers))
                if proxy._answer_status(self, body):
                    return
                with proxy.lock:
                    proxy.counts["requests"] += 1
                    fault = proxy.rng.choice(proxy.kinds) if proxy.rng.random() < proxy.rate else None
                    if fault:
                        proxy.counts[fault] += 1
                if fault:
                    proxy._inject(self, fault, body)
                else:
                    proxy._forward(self, body)

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{t.path}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def _answer_status(self, h: BaseHTTPRequestHandler, body: bytes) -> bool:
        """Count the request, wait ``delay``; answer it with ``status`` when it is picked (True)."""
        with self.lock:
            self.seen += 1
        if self.delay:
            time.sleep(self.delay)
        if self.status is None or (self.target and not self.fail_when(body)):
            return False
        with self.lock:
            self.failed += 1
        msg = {"error": {"message": f"injected HTTP {self.status}", "type": "injected"}}
        _send(h, self.status, json.dumps(msg).encode())
        return True

    # -- the honest path -------------------------------------------------------------------
    def _upstream(self, h: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes, str]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        try:
            conn.request(h.command, h.path, body or None, {"content-type": "application/json"})
            resp = conn.getresponse()
            return resp.status, resp.read(), resp.getheader("content-type", "application/json")
        finally:
            conn.close()

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        status, data, ctype = self._upstream(h, body)
        with self.lock:
            self.counts["forwarded"] += 1
        _send(h, status, data, {"content-type": ctype})

    # -- the faults ------------------------------------------------------------------------
    def _inject(self, h: BaseHTTPRequestHandler, fault: str, body: bytes) -> None:
        if fault == "rate_limit":
            _send(h, 429, b'{"error": {"message": "slow down"}}', {"retry-after": "0"})
        elif fault == "server":  # a careless server may echo the credentials it was sent
            echo = f"; you sent Authorization: {h.headers.get('authorization', '')}" if self.echo_auth else ""
            _send(h, 500, json.dumps({"error": {"message": "internal error" + echo}}).encode())
        elif fault == "hang":
            time.sleep(self.hang_s)
            _reset(h)
        elif fault == "truncated":
            status, data, ctype = self._upstream(h, body)
            h.send_response(status)
            h.send_header("content-type", ctype)
            h.send_header("content-length", str(len(data)))
            h.end_headers()
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            _reset(h)
        elif fault == "garbage":
            _send_garbage(h, body)
        elif fault == "reset":
            _reset(h)
        else:  # pragma: no cover - a typo in a test's kinds
            raise ValueError(f"unknown fault {fault}")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # a reset connection is the point
        pass


def _send(h: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    headers = {"content-type": "application/json", **(headers or {})}
    for k, v in headers.items():
        h.send_header(k, v)
    h.send_header("content-length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def _send_garbage(h: BaseHTTPRequestHandler, body: bytes) -> None:
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        req = {}
    if isinstance(req, dict) and req.get("response_format") and "messages" in req:
        envelope = {"id": "chatcmpl-garbage", "object": "chat.completion", "created": int(time.time()),
                    "model": req.get("model", "m"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": GARBAGE}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        _send(h, 200, json.dumps(envelope).encode())
    else:
        _send(h, 200, GARBAGE.encode(), {"content-type": "text/html"})


def _reset(h: BaseHTTPRequestHandler) -> None:
    """Close the client's connection with a TCP RST (linger 0), no reply."""
    try:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    h.close_connection = True
    try:
        h.connection.close()
    except OSError:
        pass
