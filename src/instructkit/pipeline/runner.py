"""``Pipeline``: run a recipe's stages in order, each into ``DIR/NN-<stage>/``, resumably.

``DIR/manifest.json`` (command ``run``) lists every stage with its fingerprint, status and usage;
re-running continues where it stopped: a finished stage whose fingerprint is unchanged is skipped
(0 calls), an unfinished one resumes through its own run directory, and a stage whose fingerprint
changed is moved aside to ``NN-<stage>.old-<fingerprint>`` (never deleted) and run again, with the
stages after it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import yaml

from instructkit.errors import UserError
from instructkit.llm.usage import Budget, CallMeter, UsageLedger, metering
from instructkit.pipeline import fingerprint as fpr
from instructkit.pipeline.schema import STAGES, Defaults, StageOptions, stage_slug, validate_recipe
from instructkit.pipeline.stages import RUNNERS, StageRun, stage_output

_NAME_OF = {cls: name for name, cls in STAGES.items()}


def uses_model(name: str, opts: StageOptions) -> bool:
    return opts.calls_model or (name == "select qdit" and getattr(opts, "quality", None) in ("judge", "ifd"))


class Pipeline:
    """A validated recipe. ``Pipeline([Dynosaur(rows=4), Dedup(), SelectQdit(k=20), Export(format="messages")],
    sources=["examples/sources.txt"]).run("runs/recipe")``, or :meth:`from_yaml`."""

    def __init__(self, stages: list[StageOptions | tuple[str, StageOptions]], *, sources: list[str] = (),
                 model: str = "local", concurrency: int = 4, executor: str = "local",
                 base_dir: str | Path = "."):
        named = [s if isinstance(s, tuple) else (_NAME_OF[type(s)], s) for s in stages]
        data = {"sources": list(sources), "model": model, "concurrency": concurrency, "executor": executor,
                "stages": [{n: o.model_dump(mode="json")} for n, o in named]}
        self.defaults, self.stages = validate_recipe(data)
        self.base_dir = Path(base_dir)

    @classmethod
    def from_dict(cls, data: Any, base_dir: str | Path = ".", where: str = "recipe") -> "Pipeline":
        defaults, stages = validate_recipe(data, where)
        return cls(stages, sources=defaults.sources, model=defaults.model, concurrency=defaults.concurrency,
                   executor=defaults.executor, base_dir=base_dir)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Pipeline":
        """Read and validate a recipe file; relative paths in it are relative to the file's folder."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: no such recipe file")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            raise UserError(f"{path}: not valid YAML{at}; check indentation and colons") from None
        return cls.from_dict(data, base_dir=path.parent, where=str(path))

    # -- what the recipe means ----------------------------------------------------------------
    def resolve(self, p: str) -> str:
        q = Path(p).expanduser()
        if q.is_absolute():
            return str(q)
        return str((self.base_dir / q).resolve()) if (self.base_dir / q).exists() else p

    def to_dict(self) -> dict[str, Any]:
        """The recipe as run: every option spelled out, sources resolved."""
        return {"sources": [self.resolve(s) for s in self.defaults.sources], "model": self.defaults.model,
                "concurrency": self.defaults.concurrency, "executor": self.defaults.executor,
                "stages": [{n: o.model_dump(mode="json")} for n, o in self.stages]}

    def check_sources(self) -> None:
        """Local-looking sources must exist (checked before anything is written); hub ids pass."""
        for s in self.defaults.sources:
            looks_local = s.startswith((".", "/", "~")) or Path(s).suffix in (".jsonl", ".json", ".csv", ".parquet",
                                                                              ".txt", ".tsv")
            needs_file = self.stages[0][0] != "dynosaur"
            if (looks_local or needs_file) and not Path(self.resolve(s)).exists():
                raise UserError(f"sources: {s}: no such file or folder (relative paths are relative to the "
                                f"recipe's folder, {self.base_dir})")

    def check_models(self) -> None:
        """Every model and embedder the stages will open, checked before the run directory exists
        (a bad spec, a missing GGUF or key, ``st:/nonexistent``: one line, exit 2, nothing written)."""
        from instructkit.embed import check_embedder
        from instructkit.llm import check_spec

        for name, opts in self.stages:
            if uses_model(name, opts):
                check_spec(getattr(opts, "model", None) or self.defaults.model)
            if isinstance(getattr(opts, "embedder", None), str):
                check_embedder(opts.embedder)

    def fingerprints(self) -> list[str]:
        fp = fpr.sources_fingerprint([self.resolve(s) for s in self.defaults.sources])
        out = []
        for name, opts in self.stages:
            model = (getattr(opts, "model", None) or self.defaults.model) if uses_model(name, opts) else None
            fp = fpr.stage_fingerprint(name, opts.model_dump(mode="json"), model, fp)
            out.append(fp)
        return out

    def stage_dirs(self, out: Path) -> list[Path]:
        return [out / f"{i + 1:02d}-{stage_slug(n)}" for i, (n, _) in enumerate(self.stages)]

    # -- running ------------------------------------------------------------------------------
    def run(self, out: str | Path, *, max_cost: float | None = None, max_tokens_total: int | None = None,
            argv: list[str] | None = None) -> dict[str, Any]:
        """Run (or resume) the recipe into ``out``; returns its manifest."""
        from instructkit import ui
        from instructkit.runs import RunDir, atomic_write_text

        out = Path(out)
        self.check_sources()
        self.check_models()
        fps = self.fingerprints()
        run = RunDir(out, command="run", config=self.to_dict(), argv=argv)
        try:
            atomic_write_text(out / "recipe.yaml", yaml.safe_dump(self.to_dict(), sort_keys=False))
            before = {s["dir"]: s for s in run.manifest.get("stages") or []}
            total_before = dict(run.manifest.get("usage") or {})
            budget = None
            if max_cost is not None or max_tokens_total is not None:
                budget = Budget(max_cost=max_cost, max_tokens_total=max_tokens_total,
                                spent_tokens=int(total_before.get("total_tokens", 0)),
                                spent_cost=float(total_before.get("estimated_cost_usd") or 0.0))
            records: list[dict[str, Any]] = []
            this_run = UsageLedger()
            run.update(stages=records, status="running", stopped=None)
            inputs = [self.resolve(s) for s in self.defaults.sources]
            prev_dir: Path | None = None
            for (name, opts), d, fp in zip(self.stages, self.stage_dirs(out), fps):
                rec = self._stage(run, name, opts, d, fp, before.get(d.name), inputs, prev_dir, budget,
                                  records, this_run)
                if rec["status"] != "complete":
                    ui.info(f"[yellow]{d.name}: {rec['status']}[/yellow]")
                    break
                inputs, prev_dir = [str(stage_output(d, name))], d
            status = next((r["status"] for r in records if r["status"] != "complete"), "complete")
            fields: dict[str, Any] = {"status": status, "stages": records, "usage": _total(records),
                                      "this_run": {"usage": this_run.snapshot()}}
            if status == "stopped":
                fields["stopped"] = "budget"
            if status == "complete":
                fields["outputs"] = {"examples": _final_output(records, out)}
            run.update(**fields)
        except KeyboardInterrupt:
            run.close("stopped")
            raise
        except BaseException:
            run.close("failed")
            raise
        run.close(status)
        return dict(run.manifest)

    def _stage(self, run, name: str, opts: StageOptions, d: Path, fp: str, before: dict[str, Any] | None,
               inputs: list[str], prev_dir: Path | None, budget: Budget | None,
               records: list[dict[str, Any]], this_run: UsageLedger) -> dict[str, Any]:
        from instructkit import ui

        if before is not None and before.get("fingerprint") != fp:
            if d.exists():
                _move_aside(d, before.get("fingerprint") or "unknown")
            before = None
        elif d.exists() and before is None:  # a folder the recipe did not make (or lost track of)
            _move_aside(d, "unknown")
        if before is not None and before.get("status") == "complete" and stage_output(d, name).exists():
            ui.info(f"[dim]{d.name}: done (fingerprint {fp}), skipped[/dim]")
            records.append(before)
            return before
        rec: dict[str, Any] = {"stage": name, "dir": d.name, "fingerprint": fp, "status": "running",
                               "options": opts.model_dump(mode="json"),
                               "usage": (before or {}).get("usage") or UsageLedger().snapshot()}
        records.append(rec)
        run.update(stages=records)
        ui.info(f"[bold]{d.name}[/bold] ({name})")
        meter = CallMeter(budget)
        ctx = StageRun(name=name, opts=opts, dir=d, inputs=inputs, defaults=self.defaults,
                       base_dir=self.base_dir, prev_dir=prev_dir)
        try:
            with metering(meter):
                RUNNERS[name](ctx)
        except Exception:
            rec["status"] = "stopped" if budget is not None and budget.exhausted else "failed"
            rec["usage"] = _merged(rec["usage"], meter.ledger.snapshot())
            run.update(stages=records, status=rec["status"], **({"stopped": "budget"}
                                                               if rec["status"] == "stopped" else {}))
            if rec["status"] == "failed":
                raise
            return rec
        this_run.merge(meter.ledger.snapshot())
        rec["usage"] = _stage_usage(d, _merged(rec["usage"], meter.ledger.snapshot()))
        rec["notes"] = ctx.notes
        own = _own_status(d)  # the stage's command decided partial / failed / stopped by the one rule
        if budget is not None and budget.exhausted:
            rec["status"] = "stopped"
        elif own in ("partial", "failed") or (own == "stopped" and "target" not in ctx.notes):
            rec["status"] = own  # a target stage's stop at its max_calls is how it ends: the recipe goes on
        elif ctx.notes.get("failed"):
            rec["status"] = "failed"
        else:
            rec["status"] = "complete"
        run.update(stages=records)
        return rec


def _own_status(d: Path) -> str | None:
    """The status the stage's own run directory recorded (None: it keeps no manifest)."""
    import json

    try:
        status = json.loads((d / "manifest.json").read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError, AttributeError):
        return None
    return status if isinstance(status, str) else None


def _merged(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    led = UsageLedger()
    led.merge(a)
    led.merge(b)
    snap = led.snapshot()
    costs = [c for c in (a.get("estimated_cost_usd"), b.get("estimated_cost_usd")) if c is not None]
    snap["estimated_cost_usd"] = round(sum(costs), 6) if costs else None
    snap.pop("per_model", None)
    return snap


def _stage_usage(d: Path, metered: dict[str, Any]) -> dict[str, Any]:
    """The stage's usage over all its runs: its own manifest's when the command keeps a cumulative one
    (it also counts calls of a run that was killed before the recipe could), else what the door metered."""
    import json

    try:
        own = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return metered
    cumulative = own.get("usage_total") or (own.get("usage") if own.get("command") == "dynosaur" else None)
    if not isinstance(cumulative, dict) or int(cumulative.get("calls", 0)) < int(metered.get("calls", 0)):
        return metered
    return {k: v for k, v in cumulative.items() if k != "per_model"}


def _total(records: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = UsageLedger().snapshot()
    total.pop("per_model", None)
    for r in records:
        total = _merged(total, r.get("usage") or {})
    return total


def _final_output(records: list[dict[str, Any]], out: Path) -> str:
    last = records[-1]
    return str(stage_output(out / last["dir"], last["stage"]).relative_to(out))


def _move_aside(d: Path, old_fp: str) -> Path:
    """Rename a stage directory whose fingerprint no longer matches (never delete a user's run); its
    model-answer cache seeds the new directory, so unchanged calls still cost nothing."""
    target, n = d.with_name(f"{d.name}.old-{old_fp}"), 1
    while target.exists():
        n += 1
        target = d.with_name(f"{d.name}.old-{old_fp}-{n}")
    d.rename(target)
    if (target / "cache.sqlite").is_file():
        d.mkdir()
        src, dst = sqlite3.connect(target / "cache.sqlite"), sqlite3.connect(d / "cache.sqlite")
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
    return target
