"""``instructkit dedup``, ``instructkit decontaminate`` and ``instructkit export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import (ExecutorOpt, QuietOpt, RayAddressOpt, SkipBadRowsOpt,
                                    open_executor, setup)
from instructkit.cli.common import aliased

InputArg = Annotated[Path, typer.Argument(help="Examples: our JSONL, Alpaca JSON/JSONL, messages or ShareGPT "
                                          "JSONL, Parquet, CSV, an HF dataset folder or a run directory.")]
FieldsOpt = Annotated[str, typer.Option("--fields", help="Comma list of example fields compared.")]


def check_out_dir(out: Path) -> None:
    from instructkit.runs import check_out_dir as check

    check(out)


def _load(path: Path, skip_bad_rows: bool = False, say: bool = True):
    """(examples, bad rows) of ``path``: read before any output is created, so bad input writes nothing."""
    from instructkit.io import read_examples

    exs, bad = read_examples(path, skip_bad_rows)
    if say:
        _say_read(path, exs, bad)
    return exs, bad


def _say_read(path: Path, exs: list, bad: list) -> None:
    from instructkit import ui

    skipped = f", skipped {len(bad):,} bad rows (first: {bad[0].message()})" if bad else ""
    ui.info(f"[dim]read {len(exs):,} examples from {path}{skipped}[/dim]")


def register(app: typer.Typer) -> None:
    @app.command("dedup", cls=aliased({"--bands": "--lsh-bands", "--rows": "--lsh-rows"}))
    def dedup_cmd(
        input: InputArg,
        out: Annotated[Path, typer.Option("--out", "-o", help="Output directory: kept.jsonl, groups.jsonl, "
                                          "dropped.jsonl, manifest.json.")],
        method: Annotated[str, typer.Option(help="exact (normalized text) | minhash (near-duplicates) | "
                                            "semantic (embedding cosine).")] = "minhash",
        threshold: Annotated[Optional[float], typer.Option(
            help="Similarity to call two examples duplicates: Jaccard for minhash (default 0.7), "
                 "cosine for semantic (default 0.9).")] = None,
        fields: FieldsOpt = "instruction,input,output",
        num_perm: Annotated[int, typer.Option("--num-perm", help="MinHash permutations.")] = 128,
        shingle: Annotated[str, typer.Option(help="Shingles: word:N (word n-grams) or char:N.")] = "word:3",
        bands: Annotated[Optional[int], typer.Option("--lsh-bands", help="LSH bands (default: derived from --threshold).")] = None,
        rows: Annotated[Optional[int], typer.Option("--lsh-rows", help="LSH rows per band (with --lsh-bands).")] = None,
        verify: Annotated[str, typer.Option(help="Check LSH candidates by estimated (signature) or exact "
                                            "(shingle-set) Jaccard.")] = "estimate",
        embedder: Annotated[str, typer.Option(help="Embedder for semantic: minilm or st:MODEL.")] = "minilm",
        quality_field: Annotated[Optional[str], typer.Option(
            "--quality-field", help="meta key (dotted path) whose highest value wins a group; default: "
                                    "meta.quality or meta.score when present, else the first example.")] = None,
        seed: Annotated[int, typer.Option(help="Seed of the MinHash permutations / k-means.")] = 1,
        field_match: Annotated[str, typer.Option(
            "--field-match", help="minhash: each = a pair is a duplicate only when every --fields field is "
                                  "similar on its own (one instruction over different rows is not a duplicate); "
                                  "joined = the fields compared as one text.")] = "each",
        executor: ExecutorOpt = "local",
        ray_address: RayAddressOpt = None,
        skip_bad_rows: SkipBadRowsOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Remove duplicate examples, keeping one representative per group.

        Kept: the highest quality (meta.quality, meta.score or --quality-field), else the first.

        Example: instructkit dedup runs/glan/examples.jsonl --out runs/dedup --method minhash --threshold 0.7

        On a Ray cluster (MinHash band bucketing / embeddings spread over the workers):
        instructkit dedup big.jsonl --out runs/dedup --executor ray --ray-address auto
        """
        from instructkit import ui
        from instructkit.clean.dedup import DedupConfig, dedup, pair_finder, write_dedup
        from instructkit.clean.text import parse_fields
        from instructkit.executor import check_executor

        quiet = setup(quiet)
        cfg = DedupConfig(method=method, threshold=threshold, fields=parse_fields(fields), num_perm=num_perm,
                          shingle=shingle, bands=bands, rows=rows, verify=verify, embedder=embedder,
                          quality_field=quality_field, seed=seed, field_match=field_match)
        cfg.validate()
        if method == "semantic":
            from instructkit.embed import check_embedder

            check_embedder(embedder)
        check_executor(executor, ray_address)
        check_out_dir(out)
        exs, bad = _load(input, skip_bad_rows)
        ex = open_executor(executor, ray_address)
        try:
            result = dedup(exs, cfg, finder=pair_finder(ex, method))
            result.info["executor"] = ex.describe()
        finally:
            ex.close()
        counts = write_dedup(exs, result, out, cfg, bad_rows=bad)
        ui.info(f"{method} dedup: kept {counts['kept']:,} of {counts['input']:,}, dropped {counts['dropped']:,} "
                f"in {counts['groups']:,} groups (largest {counts['largest_group']}) -> {out}/kept.jsonl")
        from instructkit.clean.dedup import heavy_drop_warning

        warning = heavy_drop_warning(counts, cfg)
        if warning:
            ui.warn(warning)
        if bad:
            ui.warn(f"left out {len(bad):,} bad input rows; each with its reason in {out}/rejected.jsonl")

    @app.command("decontaminate")
    def decontaminate_cmd(
        paths: Annotated[list[Path], typer.Argument(
            metavar="INPUT [BENCH...]", help="Examples (any format dedup reads); paths after the first are "
                                              "more evaluation sets, so `--against A B C` works.")],
        against: Annotated[list[Path], typer.Option(
            "--against", help="Evaluation set(s): JSONL, JSON, Parquet, CSV or HF dataset folders.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output directory: clean.jsonl, "
                                          "contaminated.jsonl, manifest.json.")],
        ngram: Annotated[int, typer.Option(min=1, help="Shared word n-gram length that counts as contamination.")] = 13,
        fields: FieldsOpt = "instruction,input,output",
        bench_fields: Annotated[Optional[str], typer.Option(
            "--bench-fields", help="Comma list of benchmark columns to match; default: every text column.")] = None,
        min_exact_chars: Annotated[int, typer.Option(
            "--min-exact-chars", min=1, help="Benchmark texts shorter than n words are matched by exact "
                                             "normalized text when at least this long (skips answers like 'A').")] = 20,
        skip_bad_rows: SkipBadRowsOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Drop examples that share a long n-gram (or an exact text) with an evaluation set.

        Text is normalized first (Unicode, case, whitespace, punctuation): reformatted copies are caught.

        Each dropped example records the benchmark file, row and field it collided with.

        Example: instructkit decontaminate runs/glan/examples.jsonl --against gsm8k_test.jsonl mmlu/ --out runs/decontam
        """
        from instructkit import ui
        from instructkit.clean.decontam import DecontamConfig, decontaminate, write_decontam
        from instructkit.clean.text import parse_fields

        quiet = setup(quiet)
        cfg = DecontamConfig(ngram=ngram, fields=parse_fields(fields), min_exact_chars=min_exact_chars,
                             bench_fields=[s.strip() for s in bench_fields.split(",") if s.strip()]
                             if bench_fields else None)
        input, benches = paths[0], list(against) + list(paths[1:])
        check_out_dir(out)
        exs, bad = _load(input, skip_bad_rows, say=False)
        result = decontaminate(exs, benches, cfg)  # reads the benchmarks: a bad one is the only line said
        _say_read(input, exs, bad)
        counts = write_decontam(exs, result, out, cfg, bad_rows=bad)
        per = ", ".join(f"{k}: {v}" for k, v in counts["per_benchmark"].items()) or "none"
        ui.info(f"decontaminate: {counts['contaminated']:,} of {counts['input']:,} examples collide with "
                f"{counts['benchmark_rows']:,} benchmark rows ({per}) -> {out}/clean.jsonl")
        if bad:
            ui.warn(f"left out {len(bad):,} bad input rows; each with its reason in {out}/rejected.jsonl")

    @app.command("export")
    def export_cmd(
        input: InputArg,
        format: Annotated[str, typer.Option("--format", "-f", help="alpaca | sharegpt | messages | hf")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output file (.json list or .jsonl lines) or, "
                                          "for hf, a folder.")],
        system: Annotated[Optional[str], typer.Option(
            help="System message added to every conversation (sharegpt/messages/hf); meta.system wins.")] = None,
        no_meta: Annotated[bool, typer.Option("--no-meta", help="Leave out the id and meta keys (plain "
                                              "format; ids are then recomputed from content on import).")] = False,
        name: Annotated[Optional[str], typer.Option(help="Dataset name for the hf dataset card.")] = None,
        skip_bad_rows: SkipBadRowsOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Write examples in a format training tools take directly.

        alpaca: instruction/input/output, a JSON list (.json) or JSONL (.jsonl).

        sharegpt: conversations with from human/gpt/system and value.

        messages: OpenAI-style chat JSONL, what TRL's SFTTrainer takes.

        hf: an HF dataset folder (load_from_disk) + data/train.parquet + README.md dataset card.

        Example: instructkit export runs/dedup/kept.jsonl --format messages --out train.jsonl
        """
        from instructkit import ui
        from instructkit.export import check_export_out, export_examples
        from instructkit.rowcheck import write_bad_rows_beside

        quiet = setup(quiet)
        check_export_out(format, out)
        exs, bad = _load(input, skip_bad_rows)
        written = export_examples(exs, format, out, system=system, with_meta=not no_meta, name=name,
                                  source=str(input))
        ui.info(f"exported {len(exs):,} examples as {format} -> {written}")
        rejected = write_bad_rows_beside(out, bad)
        if rejected:
            ui.warn(f"left out {len(bad):,} bad rows; each with its reason in {rejected}")
