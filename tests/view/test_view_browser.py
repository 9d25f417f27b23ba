"""``instructkit view`` in a real headless Chromium (Debian's, driven by Playwright) on real runs.

The runs are made once per session by the commands themselves with the embedded model: Dynosaur
(and a grown copy to compare), GLAN, select qdit and dedup over the Dynosaur instances plus two
records that try to run script, select active. Screenshots of failing tests go to tmp/artifacts/
(or $INSTRUCTKIT_TEST_ARTIFACTS); with $INSTRUCTKIT_VIEW_SCREENSHOTS=DIR every page is also saved
there (that is how docs/img/view-*.png are made).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import run_cli
from view_support import (CHROMIUM, CHROMIUM_ARGS, ROOT, Viewer, artifacts_dir, lines, make_recipe_run,
                          make_runs)

pytestmark = pytest.mark.slow
ORDER = ("dyn", "dyn2", "glan", "qdit", "dedup", "active", "recipe")  # the recipe's stages open after it


@pytest.fixture(scope="session")
def view_env(tmp_path_factory):
    # $INSTRUCTKIT_VIEW_TEST_RUNS=DIR keeps the runs between sessions (while working on the viewer)
    keep = os.environ.get("INSTRUCTKIT_VIEW_TEST_RUNS")
    base = Path(keep) if keep else tmp_path_factory.mktemp("view")
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


@pytest.fixture(scope="session")
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


def test_every_page_of_every_run_opens(viewer, runs, page):
    n_runs = len(ORDER) + len(recipe_stages(runs))  # the recipe's stage directories open as runs of their own
    for i in range(n_runs):
        name = (ORDER + tuple(s["dir"] for s in recipe_stages(runs)))[i]
        goto(page, f"{viewer.url}r/{i}/")
        tabs = page.eval_on_selector_all("nav.tabs a", "els => els.map(e => e.id)")
        assert tabs[:3] == ["tab-overview", "tab-records", "tab-rejected"], (name, tabs)
        assert len(tabs) >= 4 or name == "recipe", (name, tabs)  # a recipe has no method page of its own
        for tab in tabs:
            page.click(f"#{tab}")
            page.wait_for_load_state()
            assert page.locator(f"#{tab}.on").count() == 1, (name, tab)
            assert "could not be shown" not in page.content() and page.locator("main h1").count() == 1, (name, tab)
    goto(page, viewer.url)
    assert page.locator("table.grid tr").count() == n_runs + 1


def test_overview_shows_the_manifest(viewer, runs, page):
    goto(page, f"{viewer.url}r/{run_no('dyn')}/")
    shot(page, "overview")
    m = json.loads((runs["dyn"] / "manifest.json").read_text())
    text = page.inner_text("main")
    assert m["status"] in text and f"tasks_kept\t{m['counts']['tasks_kept']}" in text
    assert f"calls\t{m['usage']['calls']}" in text  # the usage ledger
    assert f"total_tokens\t{m['usage']['total_tokens']:,}" in text and "estimated_cost_usd\t" in text  # and its cost
    assert m["created"] in page.inner_text("#timings") and "seconds" in page.inner_text("#timings")
    assert page.locator(".card", has_text="instances").inner_text().split()[0] == str(m["counts"]["instances"])


def test_records_search_filter_and_provenance(viewer, runs, page):
    insts = lines(runs["dyn"] / "instances.jsonl")
    i = run_no("dyn")
    goto(page, f"{viewer.url}r/{i}/records")
    assert page.inner_text("#total").startswith(f"{len(insts)} records")
    # search: a word of one instance's input; the count is what the file holds
    word = max(re.findall(r"[a-z]{7,}", insts[3]["input"].lower()), key=lambda w: sum(
        -bool(re.search(rf"\b{w}\b", (x["instruction"] + " " + x["input"] + " " + x["output"]).lower())) for x in insts))
    want = sum(bool(re.search(rf"\b{word}\b", json.dumps(x, ensure_ascii=False).lower())) for x in insts)
    page.fill("#f-q", word)
    page.click("#f-go")
    page.wait_for_load_state()
    assert page.inner_text("#total").startswith(f"{want} records"), word
    shot(page, "records")
    # filter by task (the select applies itself), count = instances of that task in the file
    page.goto(f"{viewer.url}r/{i}/records")
    task = insts[-1]["meta"]["task_id"]
    with page.expect_navigation():
        page.select_option("#f-task", task)
    assert page.inner_text("#total").startswith(f"{sum(x['meta']['task_id'] == task for x in insts)} records")
    assert f"task={task}" in page.url
    # open a record: provenance, its task, and the source row it came from
    page.click("table.records a.rec >> nth=0")
    page.wait_for_load_state()
    shot(page, "record")
    first = next(x for x in insts if x["meta"]["task_id"] == task)
    prov = page.inner_text("#provenance")
    assert first["meta"]["dataset"] in prov and f"row\t{first['meta']['row']}" in prov and task in prov
    the_task = next(t for t in lines(runs["dyn"] / "tasks.jsonl") if t["id"] == task)
    assert f"tasks.prompt\t{the_task['meta']['prompt']}" in prov  # the prompt version that designed its task
    src = " ".join(page.inner_text("#source-row").split())
    from instructkit.sources import load_source

    card = load_source(str(ROOT / first["meta"]["source"]), split=first["meta"]["split"], rows=first["meta"]["row"] + 1)[0]
    values = [v for v in card.rows[first["meta"]["row"]].values() if isinstance(v, str) and len(v) > 10]
    assert values and all(" ".join(v.split())[:50] in src for v in values)  # the row it came from, as the dataset holds it
    page.click("a.related")
    page.wait_for_load_state()
    assert first["instruction"] in page.inner_text("#fields")


def test_rejected_reasons_and_examples(viewer, runs, page):
    rej = lines(runs["glan"] / "rejected.jsonl") + lines(runs["dyn"] / "rejected.jsonl")
    for name in ("dyn", "glan"):
        goto(page, f"{viewer.url}r/{run_no(name)}/rejected")
        rows = lines(runs[name] / "rejected.jsonl")
        if rows:
            reasons = {r["reason"] for r in rows}
            table = page.inner_text("#reasons")
            for reason in reasons:
                assert f"{reason}\t{sum(r['reason'] == reason for r in rows)}" in table
            assert page.locator("ul.examples li").count() == sum(min(5, sum(r["reason"] == x for r in rows))
                                                                 for x in reasons)
            shot(page, "rejected")
        else:
            assert "no rejected" in page.inner_text("main") or "0 items" in page.inner_text("h1")
    assert rej, "the tiny runs reject nothing: this test would check nothing"


def test_dynosaur_tasks_and_their_instances(viewer, runs, page):
    tasks, insts = lines(runs["dyn"] / "tasks.jsonl"), lines(runs["dyn"] / "instances.jsonl")
    goto(page, f"{viewer.url}r/{run_no('dyn')}/tasks")
    shot(page, "tasks")
    assert page.locator("#tasks a.task").count() == len(tasks)
    page.click("#tasks a.task >> nth=0")
    page.wait_for_load_state()
    t = tasks[0]
    assert page.inner_text("#task-instruction") == t["instruction"]
    assert page.locator("#instances tr").count() - 1 == min(20, sum(x["meta"]["task_id"] == t["id"] for x in insts))
    # the grown run holds a classification task too: its fields, label space and instance count, per row
    tasks2, insts2 = lines(runs["dyn2"] / "tasks.jsonl"), lines(runs["dyn2"] / "instances.jsonl")
    goto(page, f"{viewer.url}r/{run_no('dyn2')}/tasks")
    assert any(t2.get("label_space") for t2 in tasks2), "no classification task: the label space goes unchecked"
    for k, t2 in enumerate(tasks2):
        cells = page.locator("#tasks tr").nth(k + 1).locator("td").all_inner_texts()
        assert cells[0] == t2["instruction"][:160] or cells[0].endswith("...")
        assert cells[1] == f"{', '.join(t2['input_fields'])} → {t2['output_field']}" and cells[2] == t2["kind"]
        assert cells[3] == ", ".join(t2.get("label_space") or [])
        assert cells[6] == str(sum(x["meta"]["task_id"] == t2["id"] for x in insts2))


def test_glan_tree_with_coverage_and_questions(viewer, runs, page):
    m = json.loads((runs["glan"] / "manifest.json").read_text())
    goto(page, f"{viewer.url}r/{run_no('glan')}/")  # the overview: GLAN's stages, nodes done and missing
    rows = page.locator("#steps tr.step")
    assert rows.count() == len(m["stages"]) > 0
    for k, (name, st) in enumerate(m["stages"].items()):
        cells = rows.nth(k).locator("td").all_inner_texts()
        assert cells[0] == name and cells[1:5] == [f"{st[c]:,}" for c in ("planned", "done", "failed", "missing")]
        if "this_run" in st:
            assert cells[5] == f"{st['this_run']['calls']:,}"
    goto(page, f"{viewer.url}r/{run_no('glan')}/glan")
    page.click("#expand-all")
    shot(page, "glan")
    subjects, syllabi = lines(runs["glan"] / "subjects.jsonl"), lines(runs["glan"] / "syllabi.jsonl")
    questions = [q for q in lines(runs["glan"] / "questions.jsonl") if not q.get("failure")]
    assert page.locator("summary.subject").count() == len(subjects)
    sessions = sum(len(s["sessions"]) for s in syllabi)
    assert page.locator("li.session").count() == sessions > 0
    used = page.locator(".concept.used").count()
    cov = json.loads((runs["glan"] / "manifest.json").read_text())["coverage"]
    assert used == cov["key_concepts_used"] and page.locator(".concept").count() == cov["key_concepts_total"]
    if questions:
        page.click("a.question >> nth=0")
        page.wait_for_load_state()
        assert questions[0]["question"][:40] in page.inner_text("#fields")


def test_qdit_sweep_and_map(viewer, runs, page):
    goto(page, f"{viewer.url}r/{run_no('qdit')}/qdit")
    shot(page, "qdit")
    assert page.eval_on_selector("#sweep-plot", "img => img.complete && img.naturalWidth") > 100
    sel = lines(runs["qdit"] / "selected.jsonl")
    pool = len((runs["qdit"].parent / "pool.jsonl").read_text().splitlines())
    assert page.locator('#qdit-map circle[data-group="0"]').count() == len(sel) == 5
    assert page.locator('#qdit-map circle[data-group="1"]').count() == pool - 5
    # the map projects the vectors QDIT embedded (the run and the viewer share this $INSTRUCTKIT_CACHE)
    assert "2-D PCA of the embeddings QDIT selected on (minilm" in page.inner_text("main")
    # selected / not selected is a filter of the records page
    page.goto(f"{viewer.url}r/{run_no('qdit')}/records?stream=pool&selected=1")
    assert page.inner_text("#total").startswith("5 records")


def test_active_task_map(viewer, runs, page):
    goto(page, f"{viewer.url}r/{run_no('active')}/active")
    shot(page, "active")
    scores, sel = lines(runs["active"] / "scores.jsonl"), lines(runs["active"] / "selected.jsonl")
    assert page.locator("#task-map circle[data-group]").count() == len(scores) == 3
    assert page.locator('#task-map circle[data-group="0"]').count() == len(sel) == 1
    # prompt uncertainty across, prediction probability up (as in the taskmap PNG): the ranks follow the scores
    circles = page.eval_on_selector_all("#task-map circle[data-group]", "cs => cs.map(c => [c.textContent, "
                                        "+c.getAttribute('cx'), +c.getAttribute('cy')])")
    x = {t.split(":")[0]: cx for t, cx, _ in circles}
    y = {t.split(":")[0]: cy for t, _, cy in circles}
    assert sorted(x, key=x.get) == [s["task_id"] for s in sorted(scores, key=lambda s: s["pu"])]
    assert sorted(y, key=y.get) == [s["task_id"] for s in sorted(scores, key=lambda s: -s["pp"])]  # SVG y grows down
    assert page.eval_on_selector("figure img", "img => img.complete && img.naturalWidth") > 100


def test_dedup_groups_kept_and_dropped(viewer, runs, page):
    goto(page, f"{viewer.url}r/{run_no('dedup')}/dedup")
    shot(page, "dedup")
    groups = lines(runs["dedup"] / "groups.jsonl")
    assert page.locator(".group").count() == min(20, len(groups)) > 0
    g = groups[0]
    assert page.locator("#group-1 .dropped li").count() == g["size"] - 1
    # side by side: what the kept record and each dropped one say (near-duplicates often differ only there)
    kept = next(x for x in lines(runs["dedup"] / "kept.jsonl") if x["id"] == g["kept_id"])
    dropped = {x["id"]: x for x in lines(runs["dedup"] / "dropped.jsonl")}
    def shows(rec: dict, text: str) -> bool:
        text = " ".join(text.split())
        return all(" ".join(rec[k].split())[:60] in text for k in ("input", "output") if rec.get(k))

    assert shows(kept, page.inner_text("#group-1 .kept pre.snip"))
    members = [m for m in g["members"] if m != g["kept_id"]]
    assert all(shows(dropped[m], page.locator("#group-1 .dropped li").nth(k).inner_text())
               for k, m in enumerate(members))
    page.click("#group-1 .kept a")
    page.wait_for_load_state()
    assert g["kept_id"] in page.inner_text("h1")


def test_compare_two_runs(viewer, runs, page):
    a, b = run_no("dyn"), run_no("dyn2")
    goto(page, f"{viewer.url}compare?a={a}&b={b}")
    shot(page, "compare")
    ta = {t["id"] for t in lines(runs["dyn"] / "tasks.jsonl")}
    tb = {t["id"] for t in lines(runs["dyn2"] / "tasks.jsonl")}
    ia = {t["id"] for t in lines(runs["dyn"] / "instances.jsonl")}
    ib = {t["id"] for t in lines(runs["dyn2"] / "instances.jsonl")}
    assert tb - ta and page.locator("#tasks-added li").count() == len(tb - ta)
    assert page.locator("#tasks-removed li").count() == len(ta - tb) == 0
    assert page.locator("#only-b li").count() == min(50, len(ib - ia)) and page.locator("#only-a li").count() == 0
    assert page.locator("#cmp-counts tr.diff").count() > 0


def test_record_text_never_runs_as_script(viewer, page):
    pages = [f"r/{run_no('qdit')}/records?stream=pool&q=xsscanary", f"r/{run_no('qdit')}/qdit",
             f"r/{run_no('dedup')}/records?q=xsscanary", f"r/{run_no('dedup')}/dedup"]
    for url in pages:
        goto(page, viewer.url + url)
        assert page.evaluate("window.__xss") is None, url
        assert page.locator("main img[src='x']").count() == 0 and page.locator("main script").count() == 0, url
    goto(page, f"{viewer.url}r/{run_no('dedup')}/records?q=xsscanary")
    assert page.inner_text("#total").startswith("2 records")
    assert page.locator("table.records td.text", has_text="<script>window.__xss=1</script> explain").count() == 1
    page.click("a.rec:text-is('xss-script')")
    page.wait_for_load_state()
    body = page.inner_text("#fields")
    assert "<script>window.__xss=1</script>" in body and '<img src=x onerror="window.__xss=2">' in body
    assert "<b>bold?</b>" in body and page.evaluate("window.__xss") is None
    shot(page, "escaping")


def _raw_get(url: str, path: str) -> int:
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("GET", path)  # sent as written: no client-side normalisation of ../
    status = conn.getresponse().status
    conn.close()
    return status


def test_path_traversal_is_404(viewer, runs):
    i = run_no("qdit")
    assert _raw_get(viewer.url, f"/r/{i}/file/sweep.png") == 200
    for bad in (f"/r/{i}/file/../manifest.json", f"/r/{i}/file/../../../../etc/passwd",
                f"/r/{i}/file/%2e%2e/%2e%2e/pool.jsonl", f"/r/{i}/file/..%2fpool.jsonl", f"/r/{i}/file/.lock",
                f"/r/{i}/file//etc/passwd", f"/r/{i}/file/cache.sqlite/../../pool.jsonl", "/static/../app.py"):
        assert _raw_get(viewer.url, bad) == 404, bad


def test_html_report_opens_from_disk_with_no_network(runs, view_env, browser, tmp_path):
    out = tmp_path / "qdit-report.html"
    r = run_cli("view", runs["qdit"], "--html", out, "--quiet", env=view_env[1])
    assert r.returncode == 0, r.stderr
    ctx = browser.new_context()
    pg = ctx.new_page()
    requests: list[str] = []
    pg.on("request", lambda req: requests.append(req.url))
    pg.goto(out.as_uri())
    pg.wait_for_load_state("networkidle")
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert pg.eval_on_selector("#qdit img", "img => img.complete && img.naturalWidth") > 100
    pool = len((runs["qdit"].parent / "pool.jsonl").read_text().splitlines())
    assert pg.locator("#qdit svg circle[data-group]").count() == pool and pg.evaluate("window.__xss") is None
    assert pg.locator("#records details.record").count() == 5
    assert "<script>window.__xss=1</script>" in pg.inner_text("#records") or \
        "xsscanary" not in out.read_text()  # the sample is the first 5 selected; the canary may not be among them
    ctx.close()


def test_a_bad_file_shows_a_panel_and_the_rest_works(runs, view_env, browser, tmp_path):
    run = tmp_path / "qdit-copy"
    shutil.copytree(runs["qdit"], run, ignore=shutil.ignore_patterns(".lock"))
    (run / "summary.json").write_text('{"pool": 8')
    v = Viewer([run], view_env[1])
    try:
        pg = browser.new_page()
        assert pg.goto(f"{v.url}r/0/qdit").status == 200
        assert "summary.json: not valid JSON" in pg.inner_text(".panel.error")
        with open(run / "selected.jsonl", "a") as f:
            f.write('{"id": "torn", "instruction": "cut off')
        assert pg.goto(f"{v.url}r/0/records?stream=selected").status == 200
        assert "torn last line" in pg.inner_text("main")
        assert pg.goto(f"{v.url}r/0/").status == 200 and "Traceback" not in pg.content()
        pg.close()
    finally:
        v.stop()


def test_recipe_overview_shows_its_stages_and_opens_each(viewer, runs, view_env, page):
    stages = recipe_stages(runs)
    goto(page, f"{viewer.url}r/{run_no('recipe')}/")
    shot(page, "recipe")
    m = json.loads((runs["recipe"] / "manifest.json").read_text())
    rows = page.locator("#stages tr.stage")
    assert rows.count() == len(stages) == 2
    for k, s in enumerate(stages):
        cells = rows.nth(k).locator("td").all_inner_texts()
        assert s["dir"] in cells[1] and s["stage"] in cells[1] and cells[2] == s["status"] == "complete"
        assert cells[3] == f"{s['usage']['calls']:,}" and cells[4] == f"{s['usage']['total_tokens']:,}"
        sub = json.loads((runs["recipe"] / s["dir"] / "manifest.json").read_text())
        assert cells[6] == str(round(sub["this_run"].get("wall_s", 0), 1)) or "wall_s" not in sub["this_run"]
    assert f"total_tokens\t{m['usage']['total_tokens']:,}" in page.inner_text("main")  # the recipe's ledger
    timings = page.inner_text("#timings")
    assert m["created"] in timings and m["updated"] in timings and "seconds" in timings
    # each stage is a run of its own in the viewer: the Dynosaur stage has its tasks, the dedup stage its groups
    page.click("#stages a.stage-link >> nth=0")
    page.wait_for_load_state()
    assert page.locator("#tab-tasks").count() == 1 and stages[0]["dir"] in page.inner_text("header")
    tasks = lines(runs["recipe"] / stages[0]["dir"] / "tasks.jsonl")
    page.click("#tab-tasks")
    page.wait_for_load_state()
    assert page.locator("#tasks a.task").count() == len(tasks) > 0
    # the --html report of a recipe lists its stages too
    out = runs["recipe"].parent / "recipe-report.html"
    r = run_cli("view", runs["recipe"], "--html", out, "--quiet", env=view_env[1])
    assert r.returncode == 0, r.stderr
    page.goto(out.as_uri())
    assert page.locator("#stages tr.stage").count() == len(stages)
    assert [page.locator("#stages tr.stage td").nth(1 + 7 * k).inner_text().split()[0] for k in range(len(stages))] \
        == [s["dir"] for s in stages]


def _select(page, name: str, value: str) -> None:
    with page.expect_navigation():
        page.select_option(f"#f-{name}", value)


def test_each_records_filter_matches_the_file(viewer, runs, page):
    from instructkit.view.extract import columns

    checked = set()
    for name, stream in (("dyn2", "instances"), ("glan", "examples"), ("qdit", "pool")):
        rows = lines(runs[name] / f"{stream}.jsonl") if stream != "pool" else \
            lines(runs["qdit"].parent / "pool.jsonl")
        for col in ("dataset", "task", "kind", "label", "tax"):
            values = {columns(r)[col] for r in rows} - {None}
            if not values:
                continue
            value = sorted(values)[-1]
            goto(page, f"{viewer.url}r/{run_no(name)}/records?stream={stream}")
            _select(page, col, value)
            want = sum(columns(r)[col] == value for r in rows)
            assert page.inner_text("#total").startswith(f"{want} record"), (name, col, value)
            assert page.locator("table.records tr").count() - 1 == min(50, want)
            checked.add(col)
    assert checked == {"dataset", "task", "kind", "label", "tax"}, checked  # every filter the issue names
    sel = lines(runs["qdit"] / "selected.jsonl")
    pool = lines(runs["qdit"].parent / "pool.jsonl")
    goto(page, f"{viewer.url}r/{run_no('qdit')}/records?stream=pool")
    _select(page, "selected", "0")
    assert page.inner_text("#total").startswith(f"{len(pool) - len(sel)} records")


def test_glan_record_provenance_names_its_taxonomy_concepts_and_prompts(viewer, runs, page):
    ex = lines(runs["glan"] / "examples.jsonl")[0]
    goto(page, f"{viewer.url}r/{run_no('glan')}/records?stream=examples&q={ex['id']}")
    page.click("table.records a.rec >> nth=0")
    page.wait_for_load_state()
    prov = page.inner_text("#provenance")
    meta = ex["meta"]
    for key in ("field", "sub_field", "discipline", "subject"):
        assert f"{key}\t{meta[key]}" in prov
    assert all(c in prov for c in meta["concepts"])
    q = next(x for x in lines(runs["glan"] / "questions.jsonl") if x["id"] == meta["question_id"])
    a = next(x for x in lines(runs["glan"] / "answers.jsonl") if x["id"] == meta["answer_id"])
    assert f"questions.prompt\t{q['template']}" in prov and f"answers.prompt\t{a['template']}" in prov


def test_records_paging_and_a_search_across_pages(view_env, browser, tmp_path):
    # a real run of 130 records without a model: dedup --method exact keeps all of them
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"id": f"p{i:03d}", "instruction": f"Item {i}: name a {'red' if i % 3 else 'blue'} "
                                        f"thing number {i}", "output": f"answer {i}"}) + "\n" for i in range(130)))
    r = run_cli("dedup", data, "--out", tmp_path / "dd", "--method", "exact", "--quiet", env=view_env[1])
    assert r.returncode == 0, r.stderr
    kept = lines(tmp_path / "dd" / "kept.jsonl")
    v = Viewer([tmp_path / "dd"], view_env[1])
    pg = browser.new_page()
    try:
        pg.goto(f"{v.url}r/0/records")
        assert pg.inner_text("#total").startswith(f"{len(kept)} records") and "page 1 of 3" in pg.inner_text(".pager")
        pg.click("#next")
        pg.wait_for_load_state()
        ids = pg.eval_on_selector_all("table.records a.rec", "els => els.map(e => e.textContent)")
        assert ids == [x["id"] for x in kept[50:100]] and "page 2 of 3" in pg.inner_text(".pager")
        pg.fill("#f-q", "red")  # a search keeps its words while paging
        pg.click("#f-go")
        pg.wait_for_load_state()
        red = [x["id"] for x in kept if "red" in x["instruction"]]
        assert pg.inner_text("#total").startswith(f"{len(red)} records") and 50 < len(red) < 100
        pg.click("#next")
        pg.wait_for_load_state()
        assert pg.eval_on_selector_all("table.records a.rec", "els => els.map(e => e.textContent)") == red[50:]
    except Exception:
        pg.screenshot(path=str(artifacts_dir() / "test_records_paging_and_a_search_across_pages.png"), full_page=True)
        raise
    finally:
        pg.close()
        v.stop()
