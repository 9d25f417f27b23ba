"""``instructkit view`` in a real headless Chromium (Debian's, driven by Playwright) on real runs.

The runs are made once per session by the commands themselves with the embedded model: Dynosaur
(and a grown copy to compare), GLAN, select qdit and dedup over the Dynosaur instances plus two
records that try to run script, select active, and a two-stage recipe. Fixtures live in
view_browser_fixtures.py. Screenshots of failing tests go to tmp/artifacts/ (or
$INSTRUCTKIT_TEST_ARTIFACTS); with $INSTRUCTKIT_VIEW_SCREENSHOTS=DIR every page is also saved
there (that is how docs/img/view-*.png are made).
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
from urllib.parse import urlparse

import pytest

from conftest import run_cli
from view_browser_fixtures import (ORDER, browser, goto, page, recipe_stages, run_no, runs, shot,  # noqa: F401
                                   view_env, viewer)
from view_support import ROOT, Viewer, lines

pytestmark = pytest.mark.slow


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
    marked = page.eval_on_selector_all("table.records td.text", "els => els.map(e => "
                                       "[...e.querySelectorAll('mark')].map(m => m.textContent.toLowerCase()))")
    assert len(marked) == min(want, 50) and all(word in m for m in marked), marked  # each row shows its hit
    shot(page, "records")
    # a record opened from the search marks the word in its fields, and leads back to the search
    page.click("table.records a.rec >> nth=0")
    page.wait_for_load_state()
    assert word in [m.lower() for m in page.eval_on_selector_all("#fields mark", "els => els.map(e => e.textContent)")]
    assert page.inner_text("#search-words") == word
    page.go_back()
    page.wait_for_load_state()
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


def test_html_report_opens_from_disk_with_no_network(runs, view_env, page, tmp_path):
    out = tmp_path / "qdit-report.html"
    r = run_cli("view", runs["qdit"], "--html", out, "--quiet", env=view_env[1])
    assert r.returncode == 0, r.stderr
    pg = page  # the fixture fails the test on a script error and saves a screenshot on failure
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


def test_a_bad_file_shows_a_panel_and_the_rest_works(runs, view_env, page, tmp_path):
    run = tmp_path / "qdit-copy"
    shutil.copytree(runs["qdit"], run, ignore=shutil.ignore_patterns(".lock"))
    (run / "summary.json").write_text('{"pool": 8')
    v = Viewer([run], view_env[1])
    try:
        pg = page
        assert pg.goto(f"{v.url}r/0/qdit").status == 200
        assert "summary.json: not valid JSON" in pg.inner_text(".panel.error")
        with open(run / "selected.jsonl", "a") as f:
            f.write('{"id": "torn", "instruction": "cut off')
        assert pg.goto(f"{v.url}r/0/records?stream=selected").status == 200
        assert "torn last line" in pg.inner_text("main")
        assert pg.goto(f"{v.url}r/0/").status == 200 and "Traceback" not in pg.content()
    finally:
        v.stop()
