"""Serve the viewer with uvicorn on a socket bound here, so ``--port 0`` can print the real port."""

from __future__ import annotations

import socket
import sys

from instructkit.errors import UserError
from instructkit.view.app import Viewer, build_app
from instructkit.view.index import RunIndex

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve(indexes: list[RunIndex], host: str = "127.0.0.1", port: int = 8765) -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        raise UserError("the viewer needs its web server: pip install 'instructkit[view]'") from None
    if host not in LOCAL_HOSTS:
        print(f"warning: --host {host} makes these runs readable by anyone who can reach this machine; "
              "the viewer has no login", file=sys.stderr)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port (0: any free one)") from None
    sock.listen(128)
    real_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"instructkit view: http://{shown}:{real_port}/  (Ctrl+C to stop)", flush=True)
    app = build_app(Viewer(indexes))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        for idx in indexes:
            idx.close()
