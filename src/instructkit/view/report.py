"""``--html``: one self-contained HTML report of a run, to attach to a dataset card or mail.

Inline CSS and JS, plots as ``data:`` URIs or inline SVG, a sample of records; no link, script,
style or image points outside the file (a Content-Security-Policy meta tag enforces it when opened).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from instructkit.runs import atomic_write_text
from instructkit.view import methods, pages
from instructkit.view.app import HERE, template_env
from instructkit.view.index import RunIndex

REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'"
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def data_uri(path: Path) -> str:
    return f"data:{_MIME.get(path.suffix.lower(), 'application/octet-stream')};base64," + \
        base64.b64encode(path.read_bytes()).decode()


def sample_records(idx: RunIndex, n: int) -> list[dict[str, Any]]:
    stream = idx.run.examples_stream
    if not stream:
        return []
    out = []
    for row, rec in idx.iter_stream(stream, n):
        fields = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
                  for k, v in rec.items() if k != "meta"}
        out.append({"row": row, "fields": fields, "provenance": pages.provenance(rec)})
    return out


def report_context(idx: RunIndex, sample: int) -> dict[str, Any]:
    slugs = {s for s, _ in pages.method_pages(idx)}
    images = {p: data_uri(idx.run.path / p) for p in idx.run.images}
    ctx: dict[str, Any] = {"run": idx.run, "o": pages.overview(idx), "r": pages.rejected(idx, per_reason=3),
                           "records": sample_records(idx, sample), "stream": idx.run.examples_stream,
                           "errors": idx.errors(), "images": images, "report": True,
                           "css": (HERE / "static" / "view.css").read_text(encoding="utf-8"),
                           "js": (HERE / "static" / "view.js").read_text(encoding="utf-8"), "csp": REPORT_CSP}
    if "tasks" in slugs:
        ctx["t"] = methods.tasks(idx, 1, 100)
    if "glan" in slugs:
        ctx["g"] = methods.glan_tree(idx)
    if "qdit" in slugs:
        q = methods.qdit(idx, links=False)
        q["sweep_src"] = images.get(q["sweep_png"]) if q["sweep_png"] else None
        ctx["q"] = q
    if "active" in slugs:
        ctx["a"] = methods.active(idx)
        ctx["a"]["map_src"] = images
    if "dedup" in slugs:
        ctx["d"] = methods.dedup(idx, 1, 30)
    return ctx


def write_report(idx: RunIndex, out: str | Path, sample: int = 50) -> int:
    """Write the report of ``idx``'s run to ``out`` (atomically); returns its size in bytes."""
    html = template_env().get_template("report.html").render(**report_context(idx, sample))
    atomic_write_text(out, html)
    return len(html.encode())
