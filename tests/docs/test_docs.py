"""The docs cannot drift from the tool: the site builds strictly, the CLI reference covers the app,
the README stays a short door, and every shell block marked runnable is executed.

A runnable block is a fence opened with ```bash title="runnable"``` in README.md or docs/**/*.md.
Each distinct block runs once (its id is the first file:line where it appears), on its own, with
`bash -e` in a scratch folder that links every top-level entry of the repository except `runs/`,
so `examples/...` resolves and `runs/...` starts empty; `instructkit` there is this checkout's code.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli_env

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
OPEN_RUNNABLE = re.compile(r'^(?P<ticks>`{3,})bash\s+title="runnable"\s*$')
# commands that load no model: their blocks are fast enough for the unit run
MODEL_FREE = {"inspect", "export", "decontaminate", "dedup", "--help"}
SHELL_TOOLS = {"mkdir", "cat", "echo", "ls", "head", "tail", "test", "wc", "grep", "cd", "rm", "cp"}
HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")


def runnable_blocks() -> list[tuple[str, str]]:
    """(first location "file:line", code) for every distinct runnable block, in file order."""
    seen: dict[str, str] = {}
    for path in DOC_FILES:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            m = OPEN_RUNNABLE.match(lines[i].strip())
            if not m:
                i += 1
                continue
            start, body = i + 1, []
            i += 1
            while i < len(lines) and lines[i].strip() != m["ticks"]:
                body.append(lines[i])
                i += 1
            assert i < len(lines), f"{path.relative_to(ROOT)}:{start}: runnable block is never closed"
            seen.setdefault("\n".join(body).strip(), f"{path.relative_to(ROOT)}:{start}")
            i += 1
    return [(where, code) for code, where in seen.items()]


def loads_a_model(code: str) -> bool:
    """True unless every command of the block is an instructkit command known to load no model
    (or a plain shell tool)."""
    heredoc_end = None
    for line in code.replace("\\\n", " ").splitlines():
        if heredoc_end is not None:  # the body of a heredoc is data, not commands
            heredoc_end = None if line.strip() == heredoc_end else heredoc_end
            continue
        if m := HEREDOC.search(line):
            heredoc_end = m[1]
            line = line[: m.start()]
        words = shlex.split(line, comments=True)
        if not words or words[0] in SHELL_TOOLS:
            continue
        if words[0] != "instructkit" or len(words) < 2 or words[1] not in MODEL_FREE:
            return True
        if words[1] == "dedup" and "semantic" in words:
            return True
    return False


BLOCKS = runnable_blocks()


def _scratch_repo(tmp_path: Path) -> Path:
    work = tmp_path / "repo"
    work.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in ("runs", ".git"):
            (work / entry.name).symlink_to(entry)
    return work


def _shim(tmp_path: Path) -> Path:
    """A folder with an `instructkit` that runs this interpreter on this checkout's src."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "instructkit"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m instructkit "$@"\n')
    shim.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(
    "where,code",
    [pytest.param(w, c, marks=[pytest.mark.slow] if loads_a_model(c) else [], id=w) for w, c in BLOCKS],
)
def test_runnable_block(where, code, tmp_path):
    env = cli_env({"PATH": f"{_shim(tmp_path)}{os.pathsep}{os.environ.get('PATH', '')}"})
    env.setdefault("INSTRUCTKIT_THREADS", "1")
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code], cwd=_scratch_repo(tmp_path), env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (f"{where}: exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}"
                                  f"\n--- stderr\n{proc.stderr[-3000:]}")


def test_the_readme_example_is_runnable():
    assert any(w.startswith("README.md:") for w, _ in BLOCKS), "README.md lost its runnable end-to-end example"
    assert any(loads_a_model(c) is False for _, c in BLOCKS), "no fast (model-free) runnable block left"


def test_block_parser_sees_only_runnable_fences():
    # a plain ```bash block (servers, clusters, API keys) must never be executed
    plain = sum(len(re.findall(r"^```bash\s*$", p.read_text(encoding="utf-8"), re.M)) for p in DOC_FILES)
    assert plain > 0 and len(BLOCKS) < plain


def test_readme_is_a_short_door():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= 12288, f"README.md is {size} bytes; move manual content into docs/"


def test_readme_links_resolve():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?!https?:)[^)#\s]+)(?:#[^)]*)?\)", text)
    assert targets, "the README should link into the docs"
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_mkdocs_build_strict(tmp_path):
    env = cli_env({"NO_MKDOCS_2_WARNING": "1"})
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    cli_page = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "instructkit select qdit" in cli_page and "--max-tasks" in cli_page
    api_page = (tmp_path / "site" / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert "open_model" in api_page and "load_examples" in api_page


def _docs_hooks():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import docs_hooks
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return docs_hooks


def test_links_out_of_docs_become_repository_paths():
    hooks = _docs_hooks()
    docs, page_dir = ROOT / "docs", ROOT / "docs" / "methods"
    md = ("[the loop](../../examples/active/loop.sh), [`examples/sources.txt`](../../examples/sources.txt), "
          "[QDIT](qdit.md), [gone](../../examples/no_such_file.sh), [web](https://example.org/x)")
    out = hooks.repo_links_as_paths(md, page_dir, docs)
    assert "the loop (`examples/active/loop.sh`)" in out and "`examples/sources.txt`," in out
    assert "[QDIT](qdit.md)" in out and "[gone](../../examples/no_such_file.sh)" in out  # strict build still sees it
    assert "[web](https://example.org/x)" in out


def test_cli_reference_covers_every_command_and_visible_option():
    docs_hooks = _docs_hooks()
    page = docs_hooks.cli_reference()
    root = docs_hooks._app_command()
    leaves = [(p, c) for p, c in docs_hooks.walk(root) if p and not getattr(c, "commands", None)]
    assert len(leaves) >= 15
    for path, cmd in leaves:
        title = " ".join(("instructkit", *path))
        assert f"## `{title}`" in page, f"{title} missing from the CLI reference"
        section = page.split(f"## `{title}`", 1)[1].split("\n## ", 1)[0]
        for param in cmd.params:
            if getattr(param, "param_type_name", "") != "option":
                continue
            for name in [*param.opts, *getattr(param, "secondary_opts", [])]:
                shown = f"`{name}`" in section
                assert shown != bool(getattr(param, "hidden", False)), f"{title} {name}: shown={shown}"


def test_model_loading_blocks_are_told_apart():
    assert loads_a_model("instructkit dynosaur examples/news_topics --out runs/d")
    assert loads_a_model("instructkit dedup d.jsonl --out runs/s --method semantic")
    assert loads_a_model("bash examples/active/loop.sh")
    heredoc = "mkdir -p runs\ncat > runs/d.jsonl <<'EOF'\n{\"instruction\": \"instructkit glan\"}\nEOF\n"
    assert not loads_a_model(heredoc + "instructkit dedup runs/d.jsonl --out runs/x --method exact")
    assert loads_a_model(heredoc + "instructkit select qdit runs/d.jsonl --k 1 --out runs/q")
