"""Every --help reads as written, and one name means one thing across commands (old names still work).

Issue 17: rich markup ate help text in square brackets ("Learning rate ." for
"Learning rate [default: 2e-4 LoRA, 2e-5 full]."), every flag showed a `<bool>` type, and the same
idea had different names in different commands. Canonical names now: `--model` for the model a command
uses or starts from, `--k` for how many to pick, `--rows` for data rows (dedup's LSH knobs are
`--lsh-bands`/`--lsh-rows`), `--instances` for Active-IT's scoring sample and `--eval-instances` for
instances evaluated per task. The old names are hidden aliases.
"""
import re

import pytest
import typer
from typer.testing import CliRunner

from instructkit.cli import app

ROOT_CMD = typer.main.get_command(app)
ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


def _leaves(cmd=ROOT_CMD, path=()):
    subs = getattr(cmd, "commands", None) or {}
    if not subs:
        yield path, cmd
    for name, sub in subs.items():
        yield from _leaves(sub, path + (name,))


LEAVES = list(_leaves())
IDS = [" ".join(p) for p, _ in LEAVES]


def _help(path):
    result = CliRunner().invoke(app, [*path, "--help"], env=ENV, terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def _flat(text):
    return " ".join(text.split())


def test_walk_reaches_every_command():
    assert {"train", "dedup", "eval", "replay", "select qdit", "select active"} <= set(IDS)


@pytest.mark.parametrize("path,cmd", LEAVES, ids=IDS)
def test_help_has_no_type_noise_and_keeps_bracketed_text(path, cmd):
    out = _help(path)
    assert "<bool>" not in out, f"instructkit {' '.join(path)} --help shows <bool>"
    assert "\\[" not in out, "help is plain text now: write [x], not \\[x] (a rich-markup escape)"
    flat = _flat(out)
    for text in [cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params if not getattr(p, "hidden", False)]:
        for bracketed in re.findall(r"\[[^\]]+\]", text):
            assert _flat(bracketed) in flat, f"'{bracketed}' was eaten from instructkit {' '.join(path)} --help"


@pytest.mark.parametrize("path,cmd", LEAVES, ids=IDS)
def test_every_help_teaches_with_an_example(path, cmd):
    assert re.search(r"^\s*Example( \([^)]*\))?: instructkit ", _help(path), re.M), f"{path}: no example"


def test_the_learning_rate_default_survives():
    # the case the issue quotes: "Learning rate ." on today's main
    out = _flat(_help(("train",)))
    assert "Learning rate [default: 2e-4 LoRA, 2e-5 full]" in out
    assert "Learning rate ." not in out


def _params(path, args):
    cmd = ROOT_CMD
    for name in path:
        cmd = cmd.commands[name]
    with cmd.make_context(" ".join(path), list(args)) as ctx:
        return ctx.params


# (command, canonical args, old-name args, parameter, expected value)
ALIASES = [
    (("train",), ["d.jsonl", "--out", "m", "--model", "hf:x"], ["d.jsonl", "--out", "m", "--base", "hf:x"], "base", "hf:x"),
    (("train",), ["d.jsonl", "--out", "m", "-m", "hf:x"], ["d.jsonl", "--out", "m", "--base=hf:x"], "base", "hf:x"),
    (("active-loop",), ["t/", "--rounds", "1", "--k", "1", "--out", "o", "--eval", "e/", "--model", "hf:x"],
     ["t/", "--rounds", "1", "--k", "1", "--out", "o", "--eval", "e/", "--base", "hf:x"], "base", "hf:x"),
    (("replay-run",), ["s1/", "--k", "3", "--eval-per-stage", "e1/", "--out", "o", "--model", "hf:x"],
     ["s1/", "--budget", "3", "--eval-per-stage", "e1/", "--out", "o", "--base", "hf:x"], "base", "hf:x"),
    (("replay-run",), ["s1/", "--k", "3", "--eval-per-stage", "e1/", "--out", "o"],
     ["s1/", "--budget", "3", "--eval-per-stage", "e1/", "--out", "o"], "budget", 3),
    (("replay",), ["s1/", "s2/", "--k", "4", "--out", "o"], ["s1/", "s2/", "--budget", "4", "--out", "o"], "budget", 4),
    (("dedup",), ["in.jsonl", "--out", "o", "--lsh-rows", "7"], ["in.jsonl", "--out", "o", "--rows", "7"], "rows", 7),
    (("dedup",), ["in.jsonl", "--out", "o", "--lsh-bands", "9"], ["in.jsonl", "--out", "o", "--bands", "9"], "bands", 9),
    (("eval",), ["hf:x", "--tasks", "t.json", "--out", "o", "--eval-instances", "5"],
     ["hf:x", "--tasks", "t.json", "--out", "o", "--instances", "5"], "instances", 5),
    (("eval",), ["hf:x", "--tasks", "t.json", "--out", "o"], ["--model", "hf:x", "--tasks", "t.json", "--out", "o"],
     "model", "hf:x"),
]


@pytest.mark.parametrize("path,new,old,param,value", ALIASES,
                         ids=[f"{' '.join(a[0])}:{a[3]}:{i}" for i, a in enumerate(ALIASES)])
def test_old_option_names_still_work(path, new, old, param, value):
    assert _params(path, new)[param] == value
    assert _params(path, old)[param] == value


@pytest.mark.parametrize("path,shown,hidden", [
    (("train",), "--model", "--base"),
    (("active-loop",), "--model", "--base"),
    (("replay-run",), "--k", "--budget"),
    (("replay",), "--k", "--budget"),
    (("dedup",), "--lsh-rows", "--rows"),
    (("eval",), "--eval-instances", "--instances"),
])
def test_canonical_names_shown_old_ones_hidden(path, shown, hidden):
    out = _help(path)
    assert re.search(rf"(^|[\s,]){re.escape(shown)}\b", out), f"{shown} missing from {path} --help"
    assert not re.search(rf"(^|[\s,]){re.escape(hidden)}(?![\w-])", out), f"{hidden} still shown in {path} --help"


def test_old_and_new_name_together_act_as_one_option():
    # both names for one option: the last one given wins, as when a flag is repeated
    assert _params(("replay",), ["s1/", "--budget", "2", "--k", "5", "--out", "o"])["budget"] == 5
