"""The viewer's web app (Starlette): one page per view of a run, rendered on the server.

Safety: every value reaches HTML through Jinja2 autoescape; a Content-Security-Policy allows
only this server's own scripts, styles and images (nothing is fetched from or sent elsewhere);
``/r/<i>/file/<path>`` serves only regular, non-hidden files inside run directory ``i``.
A failing page renders an error panel, never a traceback.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from instructkit.view import compare as compare_mod
from instructkit.view import methods, pages
from instructkit.view.index import RunIndex

HERE = Path(__file__).parent
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
log = logging.getLogger("instructkit.view")


def template_env() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v: f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v
    return env


class Viewer:
    """The runs being viewed, their indexes (rebuilt when files change) and the page renderer."""

    def __init__(self, indexes: list[RunIndex]):
        self.indexes = indexes
        self.env = template_env()
        self.lock = threading.Lock()  # one request at a time touches SQLite / rebuilds an index

    def run(self, i: int) -> RunIndex | None:
        if not 0 <= i < len(self.indexes):
            return None
        idx = self.indexes[i]
        idx.refresh()
        return idx

    def given(self) -> list[int]:
        """Numbers of the runs named on the command line (a recipe's stage directories follow their recipe)."""
        recipes = {x.run.path.resolve() for x in self.indexes if x.run.command == "run"}
        return [j for j, x in enumerate(self.indexes) if x.run.path.resolve().parent not in recipes]

    def render(self, name: str, **ctx: Any) -> str:
        ctx.setdefault("runs", [x.run for x in self.indexes])
        return self.env.get_template(name).render(**ctx)

    def run_page(self, i: int, idx: RunIndex, name: str, active: str, **ctx: Any) -> str:
        return self.render(name, i=i, run=idx.run, active=active, methods=pages.method_pages(idx),
                           errors=idx.errors(), **ctx)


def page_for(viewer: Viewer, i: int, view: str, params: dict[str, str], extra: str = "") -> tuple[int, str]:
    """(status, HTML) of one page of run ``i``."""
    idx = viewer.run(i)
    if idx is None:
        return 404, viewer.render("error.html", title="Not found", message=f"no run number {i}")
    if view == "overview":
        run_no = {x.run.path.resolve(): j for j, x in enumerate(viewer.indexes)}  # a recipe's stages link to theirs
        return 200, viewer.run_page(i, idx, "overview.html", "overview", o=pages.overview(idx), run_no=run_no)
    if view == "records":
        return 200, viewer.run_page(i, idx, "records.html", "records", r=pages.records(idx, params))
    if view == "record":
        d = pages.record_detail(idx, int(extra), params.get("q") or "") if extra.isdigit() else None
        if d is None:
            return 404, viewer.render("error.html", title="Not found", message="no such record")
        return 200, viewer.run_page(i, idx, "record.html", "records", d=d)
    if view == "rejected":
        return 200, viewer.run_page(i, idx, "rejected.html", "rejected", r=pages.rejected(idx))
    if view == "tasks":
        return 200, viewer.run_page(i, idx, "tasks.html", "tasks", t=methods.tasks(idx, _page(params)))
    if view == "task":
        d = methods.task_detail(idx, extra)
        if d is None:
            return 404, viewer.render("error.html", title="Not found", message="no such task")
        return 200, viewer.run_page(i, idx, "task.html", "tasks", d=d)
    if view == "glan":
        return 200, viewer.run_page(i, idx, "glan.html", "glan", g=methods.glan_tree(idx))
    if view == "qdit":
        return 200, viewer.run_page(i, idx, "qdit.html", "qdit", q=methods.qdit(idx))
    if view == "active":
        return 200, viewer.run_page(i, idx, "active.html", "active", a=methods.active(idx))
    if view == "dedup":
        return 200, viewer.run_page(i, idx, "dedup.html", "dedup", d=methods.dedup(idx, _page(params)))
    return 404, viewer.render("error.html", title="Not found", message="no such page")


def _page(params: dict[str, str]) -> int:
    p = params.get("page") or "1"
    return max(1, int(p)) if p.isdigit() else 1


def compare_page(viewer: Viewer, params: dict[str, str]) -> tuple[int, str]:
    given = viewer.given() + [0, 1]  # by default the first two runs named on the command line
    a, b = params.get("a", str(given[0])), params.get("b", str(given[1]))
    ia = viewer.run(int(a)) if a.isdigit() else None
    ib = viewer.run(int(b)) if b.isdigit() else None
    if ia is None or ib is None:
        return 200, viewer.render("compare.html", c=None, a=a, b=b,
                                  message="choose two runs (start the viewer with two run directories)")
    return 200, viewer.render("compare.html", c=compare_mod.compare(ia, ib), a=int(a), b=int(b), message="")


def build_app(viewer: Viewer):
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
    from starlette.routing import Route

    def html(status: int, body: str) -> Response:
        return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": CSP,
                                                               "X-Content-Type-Options": "nosniff",
                                                               "Referrer-Policy": "no-referrer"})

    def home(request: Request) -> Response:
        if len(viewer.indexes) == 1:
            return RedirectResponse("/r/0/", status_code=302)
        with viewer.lock:
            return html(200, viewer.render("home.html", indexes=viewer.indexes, given=viewer.given()))

    def run_view(request: Request) -> Response:
        i, view = request.path_params["i"], request.path_params.get("view") or "overview"
        with viewer.lock:
            return html(*page_for(viewer, i, view, dict(request.query_params), request.path_params.get("extra", "")))

    def compare(request: Request) -> Response:
        with viewer.lock:
            return html(*compare_page(viewer, dict(request.query_params)))

    def run_file(request: Request) -> Response:
        i = request.path_params["i"]
        target = viewer.indexes[i].run.safe_file(request.path_params["path"]) if 0 <= i < len(viewer.indexes) else None
        if target is None:
            return html(404, viewer.render("error.html", title="Not found", message="no such file in this run"))
        return FileResponse(target, headers={"Content-Security-Policy": "default-src 'none'",
                                             "X-Content-Type-Options": "nosniff"})

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        target = HERE / "static" / name
        if name not in {p.name for p in (HERE / "static").iterdir()}:
            return html(404, viewer.render("error.html", title="Not found", message="no such file"))
        return FileResponse(target, headers={"Cache-Control": "no-cache"})

    async def not_found(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 404)
        return html(code, viewer.render("error.html", title="Not found" if code == 404 else "Error",
                                        message=str(getattr(exc, "detail", "not found"))))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.warning("page %s failed: %s: %s", request.url.path, type(exc).__name__, exc)
        return html(500, viewer.render("error.html", title="This page could not be shown",
                                       message=f"{type(exc).__name__}: {exc}"))

    routes = [Route("/", home), Route("/compare", compare),
              Route("/static/{name}", static),
              Route("/r/{i:int}/file/{path:path}", run_file),
              Route("/r/{i:int}/", run_view),
              Route("/r/{i:int}/{view}", run_view),
              Route("/r/{i:int}/{view}/{extra}", run_view)]
    return Starlette(routes=routes, exception_handlers={HTTPException: not_found, Exception: server_error})
