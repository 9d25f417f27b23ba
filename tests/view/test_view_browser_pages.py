"""``instructkit view`` in headless Chromium on real runs, continued: a recipe's stages, every records
filter, GLAN provenance, paging (the runs and fixtures of test_view_browser.py, shared)."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from view_browser_fixtures import (browser, goto, page, recipe_stages, run_no, runs, shot, view_env,  # noqa: F401
                                   viewer)
from view_support import Viewer, artifacts_dir, lines

pytestmark = pytest.mark.slow


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
        assert cells[6] == str(sub["seconds"]) and sub["seconds"] >= sub["this_run"]["wall_s"] >= 0  # time spent running
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
        marks = pg.eval_on_selector_all("table.records td.text mark", "els => els.map(e => e.textContent)")
        assert marks == ["red"] * len(red[50:])  # the searched word, marked once in each title shown
        assert pg.is_visible("table.records td.text mark")
        pg.fill("#f-q", "answer")  # a word only in the output: shown under the title, marked
        pg.click("#f-go")
        pg.wait_for_load_state()
        hits = pg.eval_on_selector_all("table.records td.text div.hit", "els => els.map(e => e.textContent)")
        assert hits[:2] == [f"output: {x['output']}" for x in kept[:2]], hits[:2]
    except Exception:
        pg.screenshot(path=str(artifacts_dir() / "test_records_paging_and_a_search_across_pages.png"), full_page=True)
        raise
    finally:
        pg.close()
        v.stop()
