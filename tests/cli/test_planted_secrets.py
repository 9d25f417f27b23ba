"""No secret survives into any output: a credential planted in the model URL (user:password), the
API key and the environment, over every cheap command against a real llama.cpp server, then grep
every file written, stdout and stderr for the secret and for its base64 (the form an
``Authorization: Basic`` header carries). A second pass has the server fail and echo that header
back in its error message, which then travels into rejected.jsonl, the manifest and the terminal.
Both passes end with the viewer: ``instructkit view RUN --html`` of every run directory (the
report and the viewer's SQLite index, kept under the test's folder) and every page the live viewer
serves for them (overview, records, rejected, the method's page, each raw file) are grepped the same way.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from conftest import run_cli
from faultproxy import FaultProxy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "plantuser", "pl4ntedPassw0rd"
API_KEY = "sk-plantedkey1234567890"
HF_TOKEN = "hf_plantedtoken12345678"
SECRETS = [PASSWORD, API_KEY, HF_TOKEN, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()]
ENV = {"OPENAI_API_KEY": API_KEY, "HF_TOKEN": HF_TOKEN}


def planted(url: str) -> str:
    return "openai:smol@" + url.replace("http://", f"http://{USER}:{PASSWORD}@")


def leaks(root: Path, texts: list[str]) -> list[str]:
    found = []
    for p in [p for p in root.rglob("*") if p.is_file()]:
        data = p.read_bytes()
        found += [f"{p.relative_to(root)}: {s[:6]}..." for s in SECRETS if s.encode() in data]
    for i, t in enumerate(texts):
        found += [f"output {i}: {s[:6]}..." for s in SECRETS if s in t]
    return found


def commands(model: str, tmp: Path) -> list[list[str]]:
    dyn = tmp / "dyn"
    taxonomy = tmp / "taxonomy.yaml"
    taxonomy.write_text("Natural Sciences:\n  Physical Sciences: [Chemistry]\n")
    # the readers get a pool of their own: what the 135M model's Dynosaur run keeps is not this test's subject
    pool = tmp / "pool.jsonl"
    pool.write_text("".join(json.dumps({"instruction": f"Name a colour number {i}.", "input": "", "output": c}) + "\n"
                            for i, c in enumerate(["red", "blue", "green", "yellow"])))
    return [
        ["chat", "--model", model, "--max-tokens", "8", "Say hi."],
        ["dynosaur", ROOT / "examples" / "sentence_pairs", "--out", dyn, "--rows", "3", "--modes", "aware",
         "--max-tasks", "1", "--no-verify", "--model", model],
        ["glan", "--taxonomy", taxonomy, "--out", tmp / "glan", "--subject-samples", "1", "--max-subjects", "1",
         "--max-sessions", "2", "--questions-per-syllabus", "1", "--max-tokens", "48", "--model", model],
        ["select", "qdit", pool, "--k", "2", "--quality", "judge", "--out", tmp / "qdit",
         "--model", model],
        ["dedup", pool, "--out", tmp / "dedup"],
        ["export", pool, "--format", "messages", "--out", tmp / "export.jsonl"],
        ["eval", model, "--tasks", ROOT / "examples" / "active" / "task_even_or_odd.json", "--instances", "2",
         "--max-tokens", "8", "--out", tmp / "eval"],
    ]


def view_every_run(tmp_path: Path, texts: list[str]) -> list[Path]:
    """``instructkit view RUN --html`` of every run directory under ``tmp_path``; the reports written."""
    runs = sorted(p.parent for p in tmp_path.rglob("manifest.json"))
    assert runs, "no run directory to view"
    reports = []
    for d in runs:
        report = tmp_path / "reports" / f"{d.name}.html"
        r = run_cli("view", d, "--html", report, env={**ENV, "INSTRUCTKIT_CACHE": str(tmp_path / "view-cache")})
        texts += [r.stdout, r.stderr]
        assert r.returncode == 0 and report.is_file(), (d, r.stderr[-2000:])
        reports.append(report)
    return reports


METHOD_PAGE = {"dynosaur": "tasks", "glan": "glan", "select qdit": "qdit", "select active": "active", "dedup": "dedup"}


def live_pages(tmp_path: Path, monkeypatch) -> list[str]:
    """Every page the live viewer serves for the runs under ``tmp_path`` (in process, no socket)."""
    from starlette.testclient import TestClient

    from instructkit.view.app import Viewer, build_app
    from instructkit.view.load import open_run_index

    monkeypatch.setenv("INSTRUCTKIT_CACHE", str(tmp_path / "view-cache"))
    runs = sorted(p.parent for p in tmp_path.rglob("manifest.json"))
    client = TestClient(build_app(Viewer([open_run_index(r) for r in runs])), raise_server_exceptions=False)
    texts = [client.get("/").text]
    for i, run in enumerate(runs):
        command = json.loads((run / "manifest.json").read_text()).get("command", "")
        views = ["overview", "records", "rejected", *[f"record/{k}" for k in range(3)],
                 *([METHOD_PAGE[command]] if command in METHOD_PAGE else []),
                 *[f"file/{f.name}" for f in run.iterdir() if f.is_file()]]
        for v in views:
            r = client.get(f"/r/{i}/{v}")
            assert r.status_code < 500, (run.name, v, r.text[-500:])
            texts.append(r.text)
    return texts


def test_planted_secrets_appear_nowhere(llama_server, tmp_path, monkeypatch):
    texts = []
    with FaultProxy(llama_server, rate=0.0) as proxy:
        for args in commands(planted(proxy.url), tmp_path):
            r = run_cli(*args, "--max-retries", "2", "--timeout", "120", env=ENV, timeout=900) \
                if args[0] in ("chat", "dynosaur", "glan", "eval") or "judge" in args else run_cli(*args, env=ENV)
            texts += [r.stdout, r.stderr]
            assert r.returncode == 0, (args[0], r.stderr[-2000:])
        assert any("Basic " in h.get("Authorization", "") for h in proxy.headers_seen)  # the credential was used
    assert (tmp_path / "dyn" / "manifest.json").is_file() and (tmp_path / "eval" / "manifest.json").is_file()
    reports = view_every_run(tmp_path, texts)
    assert {p.stem for p in reports} >= {"dyn", "glan", "qdit", "dedup", "eval"}
    assert "smol@http://" in (tmp_path / "reports" / "dyn.html").read_text()  # the model URL is shown, masked
    texts += live_pages(tmp_path, monkeypatch)
    assert leaks(tmp_path, texts) == []


def test_a_server_echoing_the_credential_does_not_leak_it(llama_server, tmp_path, monkeypatch):
    texts = []
    with FaultProxy(llama_server, rate=1.0, kinds=("server",), echo_auth=True) as proxy:
        model = planted(proxy.url)
        echo_commands = commands(model, tmp_path)[:3] + [commands(model, tmp_path)[-1]] + [
            ["select", "active", ROOT / "examples" / "active" / "task_even_or_odd.json", "--k", "1", "--instances",
             "2", "--perturbations", "2", "--max-tokens", "8", "--out", tmp_path / "active", "--model", model]]
        for args in echo_commands:  # chat, dynosaur, glan, eval, select active: every call fails
            r = run_cli(*args, "--max-retries", "0", env=ENV, timeout=300)
            texts += [r.stdout, r.stderr]
            assert r.returncode == 1, (args[0], r.stderr[-2000:])
    assert "internal error" in "".join(texts) + (tmp_path / "dyn" / "rejected.jsonl").read_text() \
        + (tmp_path / "dyn" / "manifest.json").read_text()
    shown = "".join(texts) + (tmp_path / "glan" / "rejected.jsonl").read_text()
    assert re.search(r"you sent Authorization: (Basic )?<redacted>", shown), shown[-2000:]  # the echo arrived, masked
    view_every_run(tmp_path, texts)
    html = (tmp_path / "reports" / "glan.html").read_text()
    assert re.search(r"you sent Authorization: (Basic )?&lt;redacted&gt;", html)  # the viewer shows the echo, masked
    pages = live_pages(tmp_path, monkeypatch)
    assert any(re.search(r"you sent Authorization: (Basic )?&lt;redacted&gt;", t) for t in pages)
    assert leaks(tmp_path, texts + pages) == []
