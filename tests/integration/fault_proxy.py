"""Fault injection in front of a real OpenAI-compatible server (an allowed fake: it only injects faults).

``FaultProxy(upstream)`` listens on 127.0.0.1 (a free port) and forwards every request to ``upstream``
unless ``fail_when(body)`` says to answer it with ``status`` instead (401: a bad key; 500: a broken
server). Without an upstream every request fails. ``refused_url()`` is an address nothing listens on.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from instructkit.llm.llama_server import free_port


def refused_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


class FaultProxy:
    def __init__(self, upstream: str | None = None, status: int = 500,
                 fail_when: Callable[[bytes], bool] | None = None, delay: float = 0.0):
        self.upstream = upstream.rstrip("/").removesuffix("/v1") if upstream else None
        self.status = status
        self.fail_when = fail_when if fail_when is not None else (lambda body: True)
        self.delay = delay  # seconds every request waits first (a server that hangs)
        self.seen = 0
        self.failed = 0
        self.forwarded = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output clean
                pass

            def do_GET(self):
                self._handle(b"")

            def do_POST(self):
                self._handle(self.rfile.read(int(self.headers.get("content-length") or 0)))

            def _handle(self, body: bytes) -> None:
                proxy.seen += 1
                if proxy.delay:
                    time.sleep(proxy.delay)
                if proxy.upstream is None or proxy.fail_when(body):
                    proxy.failed += 1
                    msg = {"error": {"message": f"injected HTTP {proxy.status}", "type": "injected"}}
                    return self._send(proxy.status, json.dumps(msg).encode())
                proxy.forwarded += 1
                req = urllib.request.Request(proxy.upstream + self.path, data=body or None, method=self.command,
                                             headers={"content-type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=300) as resp:
                        self._send(resp.status, resp.read())
                except urllib.error.HTTPError as e:
                    self._send(e.code, e.read())

            def _send(self, code: int, payload: bytes) -> None:
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request, client_address):  # a client that hung up is no test failure
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
