"""Every command's --help shows its text whole: rich markup must not eat bracketed words.

Typer renders help with rich markup, where ``[ray]`` is a style tag and silently vanishes
unless written ``\\[ray]``. This walks the whole command tree and checks that each bracketed
word written in a help string (an extra name, a default, a range) survives rendering.
"""
import re

import pytest
import typer
from typer.testing import CliRunner

from instructkit.cli import app

BRACKETED = re.compile(r"\\?\[([A-Za-z][\w,.-]*)\]")


def _commands():
    root = typer.main.get_command(app)
    stack = [((), root)]
    while stack:
        path, cmd = stack.pop()
        yield path, cmd
        # typer may vendor its own click, so look for sub-commands rather than a class
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            stack.append((path + (name,), sub))


def _help_texts(cmd):
    texts = [cmd.help or ""]
    texts += [getattr(p, "help", None) or "" for p in cmd.params]
    return texts


CASES = [(path, word) for path, cmd in _commands() for text in _help_texts(cmd)
         for word in BRACKETED.findall(text)]


def test_some_bracketed_help_exists():
    # the walk must reach the option that motivated this test (--executor's extra name)
    assert any(word == "ray" for _, word in CASES)


@pytest.mark.parametrize("path,word", CASES, ids=[" ".join(p) + ":" + w for p, w in CASES])
def test_bracketed_word_survives_rendering(path, word):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "400"}, terminal_width=400)
    assert result.exit_code == 0
    assert f"[{word}]" in result.output, f"'[{word}]' vanished from: instructkit {' '.join(path)} --help"
