"""A model or embedder that cannot be opened is one line and exit 2, before any run directory exists.

Nothing is loaded: every case is caught by ``llm.check_spec`` / ``embed.check_embedder`` (cheap file
and environment checks), so these run in a second each.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli
from instructkit.errors import UserError
from instructkit.llm import check_spec

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "sentence_pairs"
ACTIVE = ROOT / "examples" / "active"


def _commands(model: str, out: Path) -> dict[str, list[str]]:
    return {
        "chat": ["chat", "--model", model, "hello"],
        "dynosaur": ["dynosaur", str(DATA), "--out", str(out), "--model", model, "--rows", "3"],
        "glan": ["glan", "--out", str(out), "--model", model, "--subject-samples", "1"],
        "qdit": ["select", "qdit", str(ROOT / "examples" / "squad_mini"), "--k", "2", "--quality", "judge",
                 "--out", str(out), "--model", model],
        "active": ["select", "active", str(ACTIVE), "--k", "2", "--out", str(out), "--model", model],
        "eval": ["eval", model, "--tasks", str(ACTIVE / "task_even_or_odd.json"), "--out", str(out)],
    }


@pytest.fixture
def not_a_gguf(tmp_path):
    p = tmp_path / "model.gguf"
    p.write_bytes(b"PK\x03\x04 this is a zip, not a model" * 10)
    return p


def _cases(tmp_path: Path, not_a_gguf: Path) -> list[tuple[str, dict[str, str], str]]:
    return [
        ("banana:foo", {}, "not understood"),
        (f"local:{tmp_path / 'missing.gguf'}", {}, "model file not found"),
        (f"local:{not_a_gguf}", {}, f"{not_a_gguf}: not a GGUF model file"),
        ("openai:gpt-4o-mini", {"OPENAI_API_KEY": ""}, "needs an API key"),
        ("hf:/nonexistent/model", {}, "no such model folder"),
    ]


@pytest.mark.parametrize("command", ["chat", "dynosaur", "glan", "qdit", "active", "eval"])
def test_bad_models_exit_2_one_line_and_no_run_directory(command, tmp_path, not_a_gguf):
    for i, (model, env, needle) in enumerate(_cases(tmp_path, not_a_gguf)):
        if command == "glan" and model.startswith("hf:"):
            continue  # glan generates with chat models only; hf: is checked the same way elsewhere
        out = tmp_path / f"out{i}"
        r = run_cli(*_commands(model, out)[command], env=env, timeout=120)
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert r.returncode == 2, (command, model, r.stderr[-2000:])
        assert len(lines) == 1 and needle in lines[0], (command, model, r.stderr[-2000:])
        assert not out.exists(), (command, model)


@pytest.mark.parametrize("args", [["select", "qdit", str(ROOT / "examples" / "squad_mini"), "--k", "2"],
                                  ["dedup", str(ROOT / "examples" / "squad_mini"), "--method", "semantic"]])
def test_missing_embedder_folder_exit_2_before_the_run_directory(args, tmp_path):
    out = tmp_path / "out"
    r = run_cli(*args, "--embedder", "st:/nonexistent/embedder", "--out", str(out), timeout=120)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "st:/nonexistent/embedder" in lines[0], r.stderr[-2000:]
    assert not out.exists()


def test_check_spec_reads_only_the_magic_bytes(tmp_path, not_a_gguf):
    good = tmp_path / "tiny.gguf"
    good.write_bytes(b"GGUF" + b"\x00" * 60)  # not loadable, but a GGUF by its header: loading decides
    check_spec(f"local:{good}")
    with pytest.raises(UserError, match="not a GGUF model file"):
        check_spec(f"local:{not_a_gguf}")
    with pytest.raises(UserError, match="is a directory"):
        check_spec(f"local:{tmp_path}")
    check_spec("openai:gpt-4o-mini", env={"OPENAI_API_KEY": "sk-test-123456"})
    with pytest.raises(UserError, match="bad URL"):
        check_spec("openai:m@http://127.0.0.1:notaport/v1")


def test_a_gguf_header_that_llama_cpp_cannot_load_is_one_line(tmp_path):
    """Past the magic check, a broken file still fails as one line (not llama.cpp's traceback)."""
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\xff" * 200)
    r = run_cli("chat", "--model", f"local:{broken}", "hello", timeout=120)
    lines = [x for x in r.stderr.splitlines() if x.strip() and not x.startswith(("gguf_", "llama_"))]
    assert r.returncode == 2 and len(lines) == 1 and "cannot load" in lines[0], r.stderr[-2000:]


def _stage_folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    s1, s2, ev = (tmp_path / n for n in ("s1", "s2", "ev"))
    for d, name in ((s1, "even_or_odd"), (s2, "digit_to_word"), (ev, "plural_noun")):
        d.mkdir()
        (d / f"task_{name}.json").write_text((ACTIVE / f"task_{name}.json").read_text())
    return s1, s2, ev


def test_recipes_and_loops_check_models_and_embedders_before_the_run_directory(tmp_path):
    """`run` (every stage's model and embedder), `replay`, `replay-run`, `active-loop`, `train`."""
    s1, s2, ev = _stage_folders(tmp_path)
    bad_model, bad_embedder, pool = tmp_path / "m.yaml", tmp_path / "e.yaml", tmp_path / "pool.jsonl"
    pool.write_text('{"instruction": "Say hi.", "input": "", "output": "hi"}\n')
    bad_model.write_text(f"model: banana:foo\nsources: [{DATA}]\nstages:\n  - dynosaur: {{rows: 2}}\n")
    bad_embedder.write_text(f"sources: [{DATA}]\nstages:\n  - dedup: {{method: semantic, embedder: "
                            "'st:/nonexistent/embedder'}\n")
    cases = [
        (["run", bad_model], "model spec 'banana:foo' not understood"),
        (["run", bad_embedder], "st:/nonexistent/embedder"),
        (["replay", s1, s2, "--k", "1", "--embedder", "st:/nonexistent/embedder"], "st:/nonexistent/embedder"),
        (["replay-run", s1, s2, "--k", "1", "--eval-per-stage", ev, ev, "--embedder", "st:/nonexistent/embedder"],
         "st:/nonexistent/embedder"),
        (["replay-run", s1, s1, "--k", "1", "--eval-per-stage", ev, ev], "is in stage 1 and stage 2"),
        (["replay-run", s1, s2, "--k", "1", "--eval-per-stage", ev, ev, "--model", "hf:/nonexistent/model"],
         "no such model folder"),
        (["active-loop", s1, "--rounds", "1", "--k", "1", "--eval", ev, "--model", "hf:/nonexistent/model"],
         "no such model folder"),
        (["train", pool, "--model", "hf:/nonexistent/model"], "no such model folder"),
    ]
    for i, (args, needle) in enumerate(cases):
        out = tmp_path / f"out{i}"
        r = run_cli(*args, "--out", out, timeout=120)
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], (args, r.stderr[-2000:])
        assert not out.exists(), args
