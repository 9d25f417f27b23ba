"""The throughput benchmark's table and hand-written SVG (benchmarks/throughput_report.py): pure functions."""

from __future__ import annotations

import sys
import xml.dom.minidom
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from throughput_report import svg, table  # noqa: E402

ROWS = [{"concurrency": 1, "baseline": 10.0, "baseline_tokens": 64, "door": 9.5, "door_tokens": 64,
         "glan": 8.0, "glan_tokens": 30, "glan_bare": 10.0, "glan_bare_tokens": 31},
        {"concurrency": 4, "baseline": 20.0, "baseline_tokens": 64, "door": 21.0, "door_tokens": 64,
         "glan": 12.0, "glan_tokens": 30, "glan_bare": 15.0, "glan_bare_tokens": 30}]


def test_table_ratios_are_to_the_bare_client_and_to_the_same_requests_bare():
    lines = table(ROWS).splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    assert "Dynosaur" not in lines[0]  # a runner that did not run has no column
    rows = [dict(zip(head, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]
    assert [r["concurrency"] for r in rows] == ["1", "4"]
    assert rows[0]["b/a"] == "0.950" and rows[1]["b/a"] == "1.050"
    assert rows[0]["c/a GLAN answers"] == "0.800" and rows[0]["c/a' GLAN answers"] == "0.800"
    assert rows[1]["c/a GLAN answers"] == "0.600" and rows[1]["c/a' GLAN answers"] == "0.800"
    assert rows[0]["(a) bare httpx tok/s (tokens)"] == "10.0 (64)"


def test_svg_is_well_formed_with_one_line_per_runner():
    doc = xml.dom.minidom.parseString(svg(ROWS, "llama-server <8 slots> & co"))
    lines = doc.getElementsByTagName("polyline")
    assert len(lines) == 4  # baseline, door, glan, glan_bare
    assert all(len(p.getAttribute("points").split()) == 2 for p in lines)
    assert len(doc.getElementsByTagName("circle")) == 8
