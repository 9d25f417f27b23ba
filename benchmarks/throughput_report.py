"""Table and plot of benchmarks/llm_throughput.py (rows: one dict per concurrency level).

A row holds ``concurrency`` and, per runner key (``baseline``, ``door``, ``glan``, ``dynosaur``),
``<key>`` tokens/s and ``<key>_tokens`` completion tokens; ratios are to ``baseline``.
"""

from __future__ import annotations

from pathlib import Path

RUNNERS = {"baseline": "(a) bare httpx", "door": "(b) door", "glan": "(c) GLAN answers", "dynosaur": "(c) Dynosaur",
           "glan_bare": "(a') GLAN's requests, bare", "dynosaur_bare": "(a') Dynosaur's requests, bare"}
COLORS = {"baseline": "#1f77b4", "door": "#ff7f0e", "glan": "#2ca02c", "dynosaur": "#d62728",
          "glan_bare": "#98df8a", "dynosaur_bare": "#ff9896"}


def ratio(row: dict, key: str, to: str = "baseline") -> float | None:
    return row[key] / row[to] if row.get(key) is not None and row.get(to) else None


def columns(rows: list[dict]) -> list[tuple[str, object]]:
    """(header, cell function) per column: tokens/s (tokens) of each runner present, then its ratios."""
    def speed(k):
        return lambda r: "-" if r.get(k) is None else f"{r[k]:.1f} ({r.get(k + '_tokens', 0)})"

    def quotient(k, to):
        return lambda r: "-" if ratio(r, k, to) is None else f"{ratio(r, k, to):.3f}"

    cols = [("concurrency", lambda r: str(r["concurrency"])), ("(a) bare httpx tok/s (tokens)", speed("baseline"))]
    if any(r.get("door") is not None for r in rows):
        cols += [("(b) door tok/s (tokens)", speed("door")), ("b/a", quotient("door", "baseline"))]
    for k, name in (("glan", "GLAN answers"), ("dynosaur", "Dynosaur")):
        if any(r.get(k) is not None for r in rows):
            cols += [(f"(c) {name} tok/s (tokens)", speed(k)), (f"c/a {name}", quotient(k, "baseline")),
                     (f"(a') same requests bare tok/s", speed(k + "_bare")), (f"c/a' {name}", quotient(k, k + "_bare"))]
    return cols


def table(rows: list[dict]) -> str:
    cols = columns(rows)
    lines = ["| " + " | ".join(h for h, _ in cols) + " |", "|" + "---:|" * len(cols)]
    lines += ["| " + " | ".join(f(r) for _, f in cols) + " |" for r in rows]
    return "\n".join(lines)


def plot(rows: list[dict], path: str | Path, title: str) -> None:
    """A PNG (or any matplotlib format) when matplotlib is installed; ``.svg`` is always written by hand."""
    if str(path).endswith(".svg"):
        Path(path).write_text(svg(rows, title))
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cs = [r["concurrency"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for k, label in RUNNERS.items():
        pts = [(r["concurrency"], r[k]) for r in rows if r.get(k) is not None]
        if pts:
            ax.plot(*zip(*pts), "o:" if k.endswith("_bare") else "o-", label=label, color=COLORS[k])
    ax.set_xscale("log", base=2)
    ax.set_xticks(cs, [str(c) for c in cs])
    ax.set_xlabel("requests in flight")
    ax.set_ylabel("completion tokens/s")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def svg(rows: list[dict], title: str, w: int = 640, h: int = 340) -> str:
    """A small line chart (log2 x axis) as SVG text, with no plotting library."""
    import math

    left, right, top, bottom = 60, 230, 30, 45
    cs = [r["concurrency"] for r in rows]
    ymax = max([r[k] for r in rows for k in RUNNERS if r.get(k) is not None] + [1.0]) * 1.1
    lo, hi = math.log2(min(cs)), math.log2(max(cs))

    def x(c: float) -> float:
        return left + (0.5 if hi == lo else (math.log2(c) - lo) / (hi - lo)) * (w - left - right)

    def y(v: float) -> float:
        return h - bottom - v / ymax * (h - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
           f'font-size="11"><rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="12">{_esc(title)}</text>',
           f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="black"/>',
           f'<text x="{(left + w - right) / 2}" y="{h - 8}" text-anchor="middle">requests in flight</text>',
           f'<text x="14" y="{(top + h - bottom) / 2}" transform="rotate(-90 14 {(top + h - bottom) / 2})" '
           f'text-anchor="middle">completion tokens/s</text>']
    for c in cs:
        out.append(f'<text x="{x(c):.1f}" y="{h - bottom + 15}" text-anchor="middle">{c}</text>')
    for i in range(5):
        v = ymax * i / 4
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.0f}</text>'
                   f'<line x1="{left}" y1="{y(v):.1f}" x2="{w - right}" y2="{y(v):.1f}" stroke="#ddd"/>')
    for n, (k, label) in enumerate(RUNNERS.items()):
        pts = [(x(r["concurrency"]), y(r[k])) for r in rows if r.get(k) is not None]
        if not pts:
            continue
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
        dash = ' stroke-dasharray="4 3"' if k.endswith("_bare") else ""
        out.append(f'<polyline points="{path}" fill="none" stroke="{COLORS[k]}" stroke-width="2"{dash}/>')
        out += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{COLORS[k]}"/>' for px, py in pts]
        ly = top + 10 + 18 * n
        out.append(f'<line x1="{w - right + 10}" y1="{ly}" x2="{w - right + 28}" y2="{ly}" stroke="{COLORS[k]}" '
                   f'stroke-width="2"/><text x="{w - right + 32}" y="{ly + 4}">{_esc(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
