"""``instructkit chat``: one prompt to any model (a smoke test of a model spec)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import (ConcurrencyOpt, MaxRetriesOpt, ModelOpt, QuietOpt, TimeoutOpt,
                                    check_model, model_options, setup)


def register(app: typer.Typer) -> None:
    @app.command("chat")
    def chat(
        prompt: Annotated[str, typer.Argument(help="The user message.")],
        model: ModelOpt = "local",
        system: Annotated[Optional[str], typer.Option(help="A system message.")] = None,
        schema: Annotated[Optional[str], typer.Option(
            help="JSON schema (inline JSON or @file.json): the answer is constrained/validated to it.")] = None,
        temperature: Annotated[float, typer.Option(min=0.0, max=2.0)] = 0.0,
        max_tokens: Annotated[int, typer.Option(min=1)] = 256,
        seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
        cache: Annotated[Optional[Path], typer.Option(help="SQLite response cache file to use.")] = None,
        concurrency: ConcurrencyOpt = 1,
        timeout: TimeoutOpt = None,
        max_retries: MaxRetriesOpt = None,
        quiet: QuietOpt = False,
    ) -> None:
        """Send PROMPT to a model and print its answer.

        Example: instructkit chat "Name three primary colors." --model local
        """
        import asyncio

        from instructkit.errors import UserError
        from instructkit.llm import open_model

        quiet = setup(quiet)
        llm_options = model_options(timeout, max_retries, concurrency)
        check_model(model)
        schema_obj = None
        if schema:
            text = schema
            if schema.startswith("@"):
                p = Path(schema[1:])
                if not p.is_file():
                    raise UserError(f"--schema {p}: file not found")
                text = p.read_text(encoding="utf-8")
            try:
                schema_obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise UserError(f"--schema: not valid JSON ({e.msg})") from None
            if not isinstance(schema_obj, dict):
                raise UserError("--schema: must be a JSON object (a JSON schema)")
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        llm = open_model(model, cache=cache, options=llm_options)

        async def go():
            try:
                return await llm.chat(messages, schema=schema_obj, temperature=temperature,
                                      max_tokens=max_tokens, seed=seed)
            finally:
                await llm.aclose()

        comp = asyncio.run(go())
        if schema_obj is not None:
            if comp.parse_error:
                typer.echo(comp.text)
                raise UserError(f"the answer does not match the schema: {comp.parse_error}")
            typer.echo(json.dumps(comp.parsed, ensure_ascii=False, indent=2))
        else:
            typer.echo(comp.text)
        if not quiet:
            from instructkit.ui import console

            console().print(f"[dim]{llm.spec}: {comp.prompt_tokens} prompt + {comp.completion_tokens} "
                            f"completion tokens{' (cached)' if comp.cached else ''}[/dim]")
