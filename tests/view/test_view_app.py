"""The viewer's pages through Starlette's test client, its CLI errors and the --html report."""

from __future__ import annotations

import json
import re

import pytest

from conftest import run_cli
from instructkit.view.app import Viewer, build_app
from instructkit.view.load import open_run_index

XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '<img src=x onerror="window.__xss=2">'


@pytest.fixture(autouse=True)
def view_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTRUCTKIT_CACHE", str(tmp_path / "cache"))


def write_run(path, command="dedup", extra=None):
    path.mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps({"command": command, "status": "complete",
                                                    "counts": {"kept": 2}, **(extra or {})}))
    recs = [{"id": "a1", "instruction": XSS_SCRIPT, "input": XSS_IMG, "output": "fine",
             "meta": {"dataset": "<b>ds</b>", "task_id": "t<1>"}},
            {"id": "a2", "instruction": "plain", "input": "", "output": "ok", "meta": {}}]
    (path / "kept.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (path / "groups.jsonl").write_text(json.dumps({"id": "g1", "kept_id": "a1", "size": 2, "members": ["a1", "zz"],
                                                   "similarity_to_kept": [1.0, 0.9]}) + "\n")
    (path / "sweep.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    return path


@pytest.fixture
def client(tmp_path):
    from starlette.testclient import TestClient

    runs = [write_run(tmp_path / "r1"), write_run(tmp_path / "r2", extra={"counts": {"kept": 3}})]
    return TestClient(build_app(Viewer([open_run_index(r) for r in runs])), raise_server_exceptions=False)


def test_record_text_is_escaped_in_every_page(client):
    for url in ("/r/0/records", "/r/0/record/1", "/r/0/dedup", "/r/0/records?q=window", "/compare?a=0&b=1"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert "<script>window" not in r.text and "<img src=x" not in r.text and "<b>ds" not in r.text, url
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in client.get("/r/0/record/1").text
    assert "script-src 'self'" in client.get("/r/0/records").headers["content-security-policy"]


def test_a_search_marks_its_words_in_the_title_or_in_the_field_that_matched(client):
    page = client.get("/r/0/records?q=WINDOW").text  # in the title (an escaped <script>): marked there
    assert "&lt;script&gt;<mark>window</mark>.__xss=1" in page and '<div class="hit">' not in page
    page = client.get("/r/0/records?q=fine").text  # only in the output: the title, then the output's words
    assert re.search(r'<td class="text">&lt;script&gt;window\.__xss=1&lt;/script&gt;<div class="hit">'
                     r'<span class="field">output:</span> <mark>fine</mark></div></td>', page), page
    assert "<mark>" not in client.get("/r/0/records").text  # no search, no marks
    assert "<mark>" not in client.get("/r/0/records?q=win").text  # a part of a word is no hit (as the index)


def test_a_record_opened_from_a_search_marks_its_words_in_every_field(client):
    page = client.get("/r/0/records?q=fine+window").text
    link = re.search(r'<a class="rec" href="(/r/0/record/\d+\?q=fine%20window)">a1<', page)
    assert link, page  # the record's link carries the search
    page = client.get(link.group(1).replace("&amp;", "&")).text
    assert '<pre class="fval"><mark>fine</mark></pre>' in page  # the output
    assert '<pre class="fval">&lt;script&gt;<mark>window</mark>.__xss=1&lt;/script&gt;</pre>' in page  # escaped
    assert 'href="/r/0/records?stream=kept&q=fine%20window"' in page  # back to the search
    hostile = client.get("/r/0/record/1", params={"q": "<script>alert(1)</script> fine"}).text
    assert "<script>alert" not in hostile and "&lt;script&gt;alert(1)&lt;/script&gt; fine" in hostile
    assert "<mark>" not in client.get("/r/0/record/1").text  # opened without a search: nothing marked


def test_only_files_inside_the_run_are_served(client, tmp_path):
    (tmp_path / "outside.txt").write_text("secret")
    assert client.get("/r/0/file/sweep.png").status_code == 200
    for bad in ("/r/0/file/../outside.txt", "/r/0/file/..%2F..%2Foutside.txt", "/r/0/file/%2e%2e/outside.txt",
                "/r/0/file/manifest.json/../../outside.txt", "/r/0/file//etc/passwd", "/r/0/file/.lock",
                "/r/9/file/sweep.png", "/static/..%2Fapp.py", "/r/0/file/nope.png"):
        r = client.get(bad)
        assert r.status_code == 404 and "secret" not in r.text, bad


def test_bad_pages_show_an_error_panel_not_a_traceback(client, tmp_path):
    for url, code in (("/r/0/record/999", 404), ("/r/0/record/abc", 404), ("/r/7/", 404), ("/r/0/nowhere", 404),
                      ("/r/0/records?page=-3&selected=x", 200), ("/r/0/dedup?page=zz", 200)):
        r = client.get(url)
        assert r.status_code == code, url
        assert "Traceback" not in r.text and 'class="panel' in r.text or code == 200, url
    # a file going bad while the viewer runs: that page shows a panel, the others keep working
    with open(tmp_path / "r1" / "kept.jsonl", "a") as f:
        f.write('{"id": "half')
    r = client.get("/r/0/records?stream=kept")
    assert r.status_code == 200 and "torn last line" in r.text and 'role="alert"' in r.text
    assert client.get("/r/0/").status_code == 200


def test_every_method_page_of_a_run_without_its_data_says_so(tmp_path):
    """A hand-typed URL for a method page the run has no data for (dedup of a GLAN run...) is a page that
    says so, never a 500: every page name, on a run holding only examples."""
    from starlette.testclient import TestClient

    run = tmp_path / "plain"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"command": "export", "status": "complete"}))
    (run / "examples.jsonl").write_text(json.dumps({"id": "e1", "instruction": "hi", "output": "yo"}) + "\n")
    client = TestClient(build_app(Viewer([open_run_index(run)])), raise_server_exceptions=False)
    for view in ("", "records", "rejected", "tasks", "glan", "qdit", "active", "dedup", "dedup?page=3"):
        r = client.get(f"/r/0/{view}")
        assert r.status_code == 200, (view, r.status_code)
        assert "Traceback" not in r.text and "Internal Server Error" not in r.text, view


def test_compare_counts_and_records_only_in_one(client, tmp_path):
    with open(tmp_path / "r2" / "kept.jsonl", "a") as f:
        f.write(json.dumps({"id": "only-in-b", "instruction": "new one"}) + "\n")
    html = client.get("/compare?a=0&b=1").text
    only_b = html[html.index('id="only-b"'):]
    assert "new one" in only_b[:400] and "new one" not in html[html.index('id="only-a"'):html.index('id="only-b"')]
    assert re.search(r"<td>kept</td><td>2</td><td>3</td>", html)


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path):
    r = run_cli("view", tmp_path / "missing")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "no such directory" in r.stderr
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "data.jsonl").write_text('{"id": "x"}\n')
    r = run_cli("view", tmp_path / "plain")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "not a run directory" in r.stderr
    run = write_run(tmp_path / "r")
    with open(run / "kept.jsonl", "a") as f:
        f.write('{"id": "torn')
    r = run_cli("view", run, "--html", tmp_path / "x.html", env={"INSTRUCTKIT_CACHE": str(tmp_path / "c")})
    assert r.returncode == 2 and "kept.jsonl: line 3: torn last line" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert not (tmp_path / "x.html").exists()
    (run / "manifest.json").write_text("{")
    r = run_cli("view", run, env={"INSTRUCTKIT_CACHE": str(tmp_path / "c")})
    assert r.returncode == 2 and "corrupt manifest" in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr


def test_html_report_is_self_contained_and_escaped(tmp_path):
    run = write_run(tmp_path / "r")
    out = tmp_path / "report.html"
    r = run_cli("view", run, "--html", out, "--quiet", env={"INSTRUCTKIT_CACHE": str(tmp_path / "c")})
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    refs = re.findall(r'(?:src|href|action)\s*=\s*"([^"]*)"', html)
    assert refs and all(x.startswith(("#", "data:")) for x in refs), [x for x in refs if not x.startswith("#")][:5]
    assert "<script>window" not in html and "&lt;script&gt;window.__xss=1" in html
    assert "data:image/png;base64," in html and "http://" not in html and "https://" not in html


def test_binds_loopback_by_default_warns_for_other_hosts_and_opens_nothing(tmp_path):
    import subprocess
    import sys

    from conftest import cli_env

    import urllib.request

    run = write_run(tmp_path / "r")
    opened = tmp_path / "browser-was-opened"
    opener = tmp_path / "opener.sh"  # $BROWSER is what Python's webbrowser (and xdg-open) would start
    opener.write_text(f"#!/bin/sh\ntouch {opened}\n")
    opener.chmod(0o755)
    for extra, host, warns in (([], "127.0.0.1", False), (["--host", "0.0.0.0"], "0.0.0.0", True)):
        p = subprocess.Popen([sys.executable, "-m", "instructkit", "view", str(run), "--port", "0", "--quiet", *extra],
                             env=cli_env({"INSTRUCTKIT_CACHE": str(tmp_path / "c"), "BROWSER": str(opener),
                                          "DISPLAY": ":0"}), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        port = re.search(r":(\d+)/", line)
        if port:  # the server answers: everything it does at start is done
            assert urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/r/0/", timeout=20).status == 200
        p.terminate()
        err = p.communicate(timeout=20)[1]
        assert re.match(rf"instructkit view: http://{re.escape(host)}:\d+/", line), (line, err)
        assert ("warning: --host 0.0.0.0" in err) is warns, err
        assert not opened.exists(), "the viewer started a browser: it must only print its URL"


def test_a_recipe_run_opens_with_its_stages_and_their_timings(tmp_path):
    from starlette.testclient import TestClient

    from instructkit.view.load import with_stages

    recipe = tmp_path / "recipe"
    write_run(recipe / "01-dedup", extra={"created": "2026-01-01T10:00:00+0000", "updated": "2026-01-01T10:01:05+0000",
                                          "counts": {"input": 3, "kept": 2}})
    stages = [{"stage": "dedup", "dir": "01-dedup", "status": "complete", "usage": {"calls": 0, "total_tokens": 0}},
              {"stage": "select qdit", "dir": "02-select-qdit", "status": "failed", "usage": {"calls": 4}}]
    (recipe / "manifest.json").write_text(json.dumps({"command": "run", "status": "failed", "stages": stages,
                                                      "created": "2026-01-01T10:00:00+0000",
                                                      "updated": "2026-01-01T10:02:00+0000"}))
    other = write_run(tmp_path / "other")
    dirs = with_stages([recipe, other])
    assert dirs == [recipe, recipe / "01-dedup", other]  # a stage that never wrote its run dir is not opened
    c = TestClient(build_app(Viewer([open_run_index(d) for d in dirs])), raise_server_exceptions=False)
    html = c.get("/r/0/").text
    rows = re.findall(r'<tr class="stage">(.*?)</tr>', html, re.S)
    assert len(rows) == 2 and 'href="/r/1/"' in rows[0] and "/r/" not in rows[1]
    assert "kept 2" in rows[0] and ">65.0<" in rows[0] and "status-failed" in rows[1]  # counts, seconds, status
    assert re.search(r"<th>seconds</th><td>120.0</td>", html)
    # compare: by default the two runs named on the command line, not a recipe and its own stage
    assert 'href="/compare?a=0&amp;b=2"' in c.get("/").text
    assert re.search(r"<h2>recipe <small>\(run\)</small> vs other", c.get("/compare").text)
