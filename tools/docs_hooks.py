"""mkdocs hook: write ``reference/cli.md`` from the typer app at build time, so it cannot drift.

The page walks the command tree (typer app -> click commands -> params) of the checkout being built
(``src/`` goes first on ``sys.path``), renders each command's help text, usage, arguments and options
as markdown, and hides what ``--help`` hides (aliases kept for old names). ``cli_reference()`` is also
what ``tests/docs/test_docs.py`` checks against the app.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
PAGE = "reference/cli.md"
EXAMPLE = re.compile(r"^(Example(?: \([^)]*\))?):\s*(instructkit\b.*)$")
NAMING = """## One name, one meaning

| flag | means, in every command that has it |
|---|---|
| `--model`, `-m` | the model spec the command calls or starts training from (`train`, `active-loop` and `replay-run` once said `--base`; `eval` takes it as its first argument or as `--model`) |
| `--out`, `-o` | the run directory (or output file) written; re-running the command on it resumes |
| `--k` | how many to pick: examples (`select qdit`), tasks (`select active`, per round in `active-loop`), earlier tasks replayed per stage (`replay`, `replay-run`; once `--budget`) |
| `--rows` | data rows: loaded per dataset (`dynosaur`) or shown (`inspect`); dedup's LSH knobs are `--lsh-bands`/`--lsh-rows` (once `--bands`/`--rows`) |
| `--instances` | instances per task scored for prompt uncertainty (Active-IT's n: `select active`, `active-loop`) |
| `--eval-instances` | instances per task evaluated (`eval`, once `--instances`; `active-loop`, `replay-run`) |
| `--concurrency`, `-c` | most model calls in flight at once |
| `--quiet`, `-q` | no progress bars, info lines or summaries; also an app option (`instructkit --quiet dedup ...`) |
| `--debug` | an app option, before the command (`instructkit --debug dynosaur ...`): full tracebacks and DEBUG logs |

Old names keep working as hidden aliases; each command below lists its own.
"""


def _app_command() -> Any:
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    import typer

    from instructkit.cli import app

    return typer.main.get_command(app)


def walk(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, command) for the root and every sub-command, depth first, in registration order."""
    yield path, cmd
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        if not getattr(sub, "hidden", False):
            yield from walk(sub, path + (name,))


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell: no raw HTML, no column breaks, one line."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def _help_paragraphs(text: str) -> list[str]:
    """A docstring as markdown: command lines (``Example: instructkit ...``) become shell blocks,
    a line ending in ``&&`` or a backslash continues its command, the rest stays prose."""
    out: list[str] = []
    for para in text.replace("\b", "").strip().split("\n\n"):
        prose: list[str] = []
        code: list[str] = []
        for line in (ln.strip() for ln in para.splitlines() if ln.strip()):
            example = EXAMPLE.match(line)
            if example or line.startswith("instructkit ") or (code and code[-1].endswith(("&&", "\\"))):
                if prose:
                    out.append(html.escape(" ".join(prose), quote=False))
                    prose = []
                if example:
                    if code:
                        out.append("```bash\n" + "\n".join(code) + "\n```")
                        code = []
                    out.append(html.escape(example[1], quote=False) + ":")
                code.append(example[2] if example else line)
                continue
            if code:
                out.append("```bash\n" + "\n".join(code) + "\n```")
                code = []
            prose.append(line)
        if code:
            out.append("```bash\n" + "\n".join(code) + "\n```")
        if prose:
            out.append(html.escape(" ".join(prose), quote=False))
    return out


def _default(param: Any) -> str:
    show = getattr(param, "show_default", True)
    if isinstance(show, str):
        return show
    default = getattr(param, "default", None)
    if show is False or default is None or callable(default):
        return ""
    if getattr(param, "is_flag", False) and getattr(param, "secondary_opts", None):
        return (param.opts if default else param.secondary_opts)[0]
    if isinstance(default, bool):
        return "on" if default else ""
    if isinstance(default, (list, tuple)):
        return ", ".join(map(str, default)) if default else ""
    return str(default)


def _option_row(param: Any) -> str:
    names = ", ".join(f"`{n}`" for n in [*param.opts, *getattr(param, "secondary_opts", [])])
    value = "" if getattr(param, "is_flag", False) else (param.metavar or param.name.upper())
    default = _default(param)
    req = "required" if param.required else (f"`{_cell(default)}`" if default else "")
    return f"| {names} | {_cell(value)} | {req} | {_cell(param.help or '')} |"


def command_markdown(path: tuple[str, ...], cmd: Any) -> str:
    title = " ".join(("instructkit", *path))
    parts = [f"## `{title}`", *_help_paragraphs(cmd.help or "")]
    args = [p for p in cmd.params if getattr(p, "param_type_name", "") == "argument"]
    opts = [p for p in cmd.params if getattr(p, "param_type_name", "") == "option" and not getattr(p, "hidden", False)]
    usage = " ".join([title, "[OPTIONS]" if opts else "", *(
        (p.metavar or p.name.upper()) + ("..." if p.nargs != 1 else "") for p in args)])
    parts.insert(1, f"```text\n{' '.join(usage.split())}\n```")
    if args:
        parts.append("| argument | what |\n|---|---|\n" + "\n".join(
            f"| `{p.metavar or p.name.upper()}` | {_cell(getattr(p, 'help', '') or '')} |" for p in args))
    aliases = getattr(cmd, "aliases", None) or {}
    if aliases:
        parts.append("Old names, still accepted (hidden from `--help`): " + ", ".join(
            f"`{old}` = `{new}`" if new else f"`{old} VALUE` = the first argument" for old, new in aliases.items()) + ".")
    if opts:
        parts.append("| option | value | default | what |\n|---|---|---|---|\n" + "\n".join(map(_option_row, opts)))
    return "\n\n".join(parts)


def cli_reference() -> str:
    """The whole CLI reference page (markdown)."""
    root = _app_command()
    sections = [command_markdown(path, cmd) for path, cmd in walk(root)
                if path and not getattr(cmd, "commands", None)]
    head = ("# CLI reference\n\nGenerated from the code at build time (`tools/docs_hooks.py`): every command, "
            "argument and option of `instructkit`, as `--help` shows them.\n\n" + NAMING)
    return head + "\n\n" + "\n\n".join(sections) + "\n"


LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s#]+)\)")


def repo_links_as_paths(markdown: str, page_dir: Path, docs_dir: Path) -> str:
    """Links to repository files outside docs/ (``../../examples/x.sh``) as ``text (`examples/x.sh`)``.

    They work on GitHub but have no page on the site; a link to a missing file is left alone, so the
    strict build still reports it.
    """
    def plain(m: re.Match) -> str:
        target = m[2]
        if "://" in target or target.startswith(("/", "mailto:")):
            return m[0]
        path = (page_dir / target).resolve()
        if path.is_relative_to(docs_dir.resolve()) or not path.exists() or not path.is_relative_to(ROOT):
            return m[0]
        rel = path.relative_to(ROOT).as_posix()
        return f"`{rel}`" if m[1].strip("`") == rel else f"{m[1]} (`{rel}`)"

    return LINK.sub(plain, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """mkdocs event: rewrite links that leave docs/ (see :func:`repo_links_as_paths`)."""
    docs_dir = Path(config["docs_dir"])
    return repo_links_as_paths(markdown, (docs_dir / page.file.src_uri).parent, docs_dir)


def on_files(files: Any, config: Any) -> Any:
    """mkdocs event: add the generated page to the site's files (it is never written into docs/)."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=cli_reference()))
    return files
