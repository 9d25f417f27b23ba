"""Plots drawn on the server as SVG (no JS library, nothing fetched) and a cheap 2-D text map.

Every label goes through :func:`html.escape`: point titles are record text.
"""

from __future__ import annotations

import html
import re
import zlib
from collections.abc import Sequence

import numpy as np

PALETTE = ("#2f6fdf", "#c9c9c9", "#e4572e", "#17a398", "#f3a712", "#8a4fff", "#6d6875")
_WORD = re.compile(r"\w+", re.UNICODE)


def hashed_tfidf(texts: Sequence[str], dim: int = 512) -> np.ndarray:
    """Rows of L2-normalised TF-IDF over hashed word unigrams (crc32 mod ``dim``): no vocabulary kept."""
    X = np.zeros((len(texts), dim), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in _WORD.findall(t.lower()):
            X[i, zlib.crc32(w.encode()) % dim] += 1.0
    df = (X > 0).sum(axis=0)
    X *= np.log((1 + len(texts)) / (1 + df)) + 1.0
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms == 0, 1, norms)


def pca_2d(X: np.ndarray) -> np.ndarray:
    """The first two principal components of the rows of X (zeros when there is nothing to spread)."""
    if len(X) < 2:
        return np.zeros((len(X), 2))
    Xc = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    out = Xc @ vt[:2].T
    if out.shape[1] < 2:
        out = np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    return out


def scatter_svg(xy: np.ndarray | Sequence[Sequence[float]], groups: Sequence[int], titles: Sequence[str],
                legend: Sequence[str], x_label: str = "", y_label: str = "", width: int = 640,
                height: int = 420, links: Sequence[str] | None = None) -> str:
    """An SVG scatter plot: one circle per point coloured by its group, its title shown on hover."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    pad = 40
    if len(xy):
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        margin = np.where(hi - lo == 0, 0.5, (hi - lo) * 0.05)  # no point drawn on (and half outside) the frame
        lo, hi = lo - margin, hi + margin
    else:
        lo, hi = np.zeros(2), np.ones(2)
    span = hi - lo
    px = pad + (xy[:, 0] - lo[0]) / span[0] * (width - 2 * pad)
    py = height - pad - (xy[:, 1] - lo[1]) / span[1] * (height - 2 * pad)
    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img">',
             f'<rect x="{pad}" y="{pad / 2}" width="{width - 2 * pad}" height="{height - 1.5 * pad}" '
             'fill="none" stroke="#ddd"/>']
    order = np.argsort([-g for g in groups], kind="stable")  # later groups (unselected) drawn first
    for i in order:
        g = int(groups[i])
        circle = (f'<circle cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="4" fill="{PALETTE[g % len(PALETTE)]}" '
                  f'fill-opacity="0.8" data-group="{g}"><title>{html.escape(titles[i])}</title></circle>')
        if links:
            circle = f'<a href="{html.escape(links[i])}">{circle}</a>'
        parts.append(circle)
    for j, name in enumerate(legend):
        y = 14 + 16 * j
        parts.append(f'<circle cx="{width - 150}" cy="{y}" r="5" fill="{PALETTE[j % len(PALETTE)]}"/>'
                     f'<text x="{width - 140}" y="{y + 4}" font-size="12">{html.escape(name)}</text>')
    parts.append(f'<text x="{width / 2}" y="{height - 8}" font-size="12" text-anchor="middle">'
                 f'{html.escape(x_label)}</text>')
    parts.append(f'<text x="12" y="{height / 2}" font-size="12" transform="rotate(-90 12 {height / 2})" '
                 f'text-anchor="middle">{html.escape(y_label)}</text>')
    for v, xpos in ((lo[0], pad), (hi[0], width - pad)):
        parts.append(f'<text x="{xpos}" y="{height - pad + 14}" font-size="10" text-anchor="middle">{v:.3g}</text>')
    for v, ypos in ((lo[1], height - pad), (hi[1], pad / 2 + 4)):
        parts.append(f'<text x="{pad - 4}" y="{ypos}" font-size="10" text-anchor="end">{v:.3g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_svg(xs: Sequence[float], series: dict[str, Sequence[float | None]], x_label: str = "",
             width: int = 640, height: int = 320) -> str:
    """A small line chart (the QDIT sweep when no PNG was written): one polyline per series."""
    pad = 40
    vals = [v for s in series.values() for v in s if v is not None]
    if not xs or not vals:
        return ""
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(vals), max(vals)
    sx = (x1 - x0) or 1.0
    sy = (y1 - y0) or 1.0
    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img">']
    for j, (name, ys) in enumerate(series.items()):
        pts = " ".join(f"{pad + (x - x0) / sx * (width - 2 * pad):.1f},{height - pad - (y - y0) / sy * (height - 2 * pad):.1f}"
                       for x, y in zip(xs, ys) if y is not None)
        color = PALETTE[[0, 2, 3, 4][j % 4]]
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts.append(f'<text x="{pad + 8}" y="{16 + 14 * j}" font-size="12" fill="{color}">{html.escape(name)}</text>')
    parts.append(f'<text x="{width / 2}" y="{height - 8}" font-size="12" text-anchor="middle">{html.escape(x_label)}'
                 f' ({x0:g} .. {x1:g})</text>')
    parts.append(f'<text x="{pad - 4}" y="{height - pad}" font-size="10" text-anchor="end">{y0:.3g}</text>')
    parts.append(f'<text x="{pad - 4}" y="{pad}" font-size="10" text-anchor="end">{y1:.3g}</text></svg>')
    return "".join(parts)
