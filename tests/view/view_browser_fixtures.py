"""Fixtures and helpers of the viewer's browser tests (test_view_browser*.py), shared by their modules.

The runs are made once per session (kept in one folder, ``runs.json`` names them), so a second
module that asks for ``runs`` reuses them; each module starts its own viewer and Chromium.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from view_support import CHROMIUM, CHROMIUM_ARGS, Viewer, artifacts_dir, make_recipe_run, make_runs

ORDER = ("dyn", "dyn2", "glan", "qdit", "dedup", "active", "recipe")  # the recipe's stages open after it


@pytest.fixture(scope="session")
def view_env(tmp_path_factory):
    # $INSTRUCTKIT_VIEW_TEST_RUNS=DIR keeps the runs between sessions (while working on the viewer)
    keep = os.environ.get("INSTRUCTKIT_VIEW_TEST_RUNS")
    base = Path(keep) if keep else tmp_path_factory.getbasetemp() / "view-runs"  # one folder for every module
    base.mkdir(parents=True, exist_ok=True)
    return base, {"INSTRUCTKIT_CACHE": str(base / "cache"), "INSTRUCTKIT_THREADS": "1"}


@pytest.fixture(scope="session")
def runs(view_env, glan_run):
    base, env = view_env
    made = {k: Path(v) for k, v in json.loads((base / "runs.json").read_text()).items()} \
        if (base / "runs.json").exists() else {}
    if set(made) >= set(ORDER):
        return made
    made = made or make_runs(base, env, glan=glan_run[2])
    made["recipe"] = make_recipe_run(base, env)
    (base / "runs.json").write_text(json.dumps({k: str(v) for k, v in made.items()}))
    return made


@pytest.fixture(scope="module")
def viewer(runs, view_env):
    v = Viewer([runs[n] for n in ORDER], view_env[1])
    yield v
    v.stop()


@pytest.fixture(scope="module")
def browser():
    # module scope, not session: Playwright's sync API marks an asyncio loop as running in this thread until
    # it stops, and every later test that calls asyncio.run() would fail with "cannot be called from a running
    # event loop" (CI ran the whole suite in one process and 57 tests after this module failed so).
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: make install puts it there (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    """A fresh page that fails the test on a script error, a dialog or a CSP violation; screenshot on failure."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    failed_before = request.session.testsfailed
    yield pg
    if request.session.testsfailed > failed_before:
        pg.screenshot(path=str(artifacts_dir() / f"{request.node.name}.png"), full_page=True)
    ctx.close()
    assert not problems, problems


def shot(pg, name: str) -> None:
    d = os.environ.get("INSTRUCTKIT_VIEW_SCREENSHOTS")
    if d:
        Path(d).mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(Path(d) / f"view-{name}.png"), full_page=name in ("qdit", "glan", "active", "record"))


def run_no(name: str) -> int:
    return ORDER.index(name)


def goto(pg, url: str) -> None:
    resp = pg.goto(url)
    assert resp is not None and resp.status == 200, (url, resp and resp.status)
    assert "could not be shown" not in pg.content()


def recipe_stages(runs) -> list[dict]:
    return json.loads((runs["recipe"] / "manifest.json").read_text())["stages"]
