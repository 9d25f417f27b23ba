"""Supervised fine-tuning on instructkit example files, with the HF Trainer (LoRA or full).

Each Example becomes one chat: ``[system?] user: instruction (+ "\\n\\n" + input) -> assistant: output``,
rendered with the model's own chat template (the same one ``hf:`` uses when answering), and the
loss counts the assistant's tokens only (its closing end-of-turn token included, so the model learns
to stop); every prompt token is labelled -100.

The output folder is usable as ``--model hf:MODEL_DIR``:

* ``--lora`` (default): the PEFT adapter (a few MB) + ``instructkit_model.json`` naming the base;
  ``hf:`` loads the base and merges the adapter in at load time.
* ``--full``: the full model's weights (``config.json`` + ``model.safetensors``, ~540 MB float32).

Training checkpoints go to ``MODEL_DIR/checkpoints/``; re-running the same command resumes from the
last complete one (optimizer, scheduler and RNG states included, so the result equals an
uninterrupted run) and they are removed when the model is written.

>>> cfg = TrainConfig(data="examples.jsonl", out="model", steps=20)   # doctest: +SKIP
>>> train(cfg).final_loss                                              # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from instructkit.errors import UserError
from instructkit.records import Example, stable_hash
from instructkit.runs import atomic_write_json

IGNORE = -100  # label value the loss skips
CHECKPOINTS = "checkpoints"
TRAIN_LOG = "training.json"


@dataclass
class TrainConfig:
    """Everything that determines the trained model (so a re-run with the same config resumes)."""

    data: str
    out: str
    base: str = "hf:embedded"
    lora: bool = True
    steps: int | None = None  # overrides epochs when set
    epochs: float = 3.0
    lr: float | None = None  # default: 2e-4 for LoRA, 2e-5 for full fine-tuning
    max_len: int = 512
    seed: int = 0
    batch_size: int = 8
    save_every: int = 50
    lora_r: int = 8
    lora_alpha: int = 16

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (2e-4 if self.lora else 2e-5)

    def fingerprint(self, data_ids: list[str]) -> str:
        d = asdict(self)
        d.pop("out")
        d.pop("save_every")  # how often to checkpoint does not change the result
        d["data"] = stable_hash("data", data_ids)
        return stable_hash("train", d)


@dataclass
class TrainResult:
    out: Path
    steps: int
    examples: int
    dropped: int
    truncated: int
    losses: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int = 0
    already_done: bool = False

    @property
    def first_loss(self) -> float | None:
        return self.losses[0][1] if self.losses else None

    @property
    def final_loss(self) -> float | None:
        return self.losses[-1][1] if self.losses else None


# -- prompt building and label masking (no model needed: any HF tokenizer) --------------------

def example_messages(ex: Example) -> list[dict[str, str]]:
    """The chat an Example trains: system (from ``meta.system``), user, assistant.

    >>> example_messages(Example(instruction="Add.", input="2 3", output="5"))[-2:]
    [{'role': 'user', 'content': 'Add.\\n\\n2 3'}, {'role': 'assistant', 'content': '5'}]
    """
    return ex.messages(any_type_system=True)  # train has always str()-ed a non-string meta.system


def build_features(tokenizer: Any, ex: Example, max_len: int) -> tuple[dict[str, list[int]] | None, bool]:
    """(``{"input_ids", "labels"}`` or None when nothing of the answer fits, truncated?).

    The prompt is the template rendered up to the opened assistant turn; the labels copy the ids
    after it and are -100 before it. Sequences longer than ``max_len`` lose their tail.
    """
    msgs = example_messages(ex)
    prompt = tokenizer.apply_chat_template(msgs[:-1], add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(msgs, tokenize=False)
    if not full.startswith(prompt):
        raise UserError("the model's chat template renders the prompt differently inside a full chat; "
                        "train this model on plain text instead")
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    # after the end-of-turn token the template may add a newline: nothing to learn there
    eos = tokenizer.eos_token_id
    if eos in a_ids:
        a_ids = a_ids[: a_ids.index(eos) + 1]
    ids = p_ids + a_ids
    labels = [IGNORE] * len(p_ids) + list(a_ids)
    truncated = len(ids) > max_len
    ids, labels = ids[:max_len], labels[:max_len]
    if all(x == IGNORE for x in labels):
        return None, truncated
    return {"input_ids": ids, "labels": labels}, truncated


def collate(batch: list[dict[str, list[int]]], pad_id: int, multiple: int = 16) -> dict[str, Any]:
    """Right-pad a batch: ids with ``pad_id``, labels with -100, attention mask 0 on padding.

    Lengths are rounded up to a ``multiple``: CPU kernels pay a warm-up for every new shape, and
    a few shapes reused beat many exact ones.
    """
    import torch

    n = max(len(b["input_ids"]) for b in batch)
    n = -(-n // multiple) * multiple
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), n), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, b in enumerate(batch):
        k = len(b["input_ids"])
        ids[i, :k] = torch.tensor(b["input_ids"])
        labels[i, :k] = torch.tensor(b["labels"])
        mask[i, :k] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


# -- resume bookkeeping ---------------------------------------------------------------------------

def last_complete_checkpoint(folder: Path) -> Path | None:
    """The newest ``checkpoint-N`` whose trainer state was written (the Trainer writes it last)."""
    if not folder.is_dir():
        return None
    found = []
    for d in folder.iterdir():
        if d.is_dir() and d.name.startswith("checkpoint-") and d.name[11:].isdigit():
            if (d / "trainer_state.json").is_file():
                found.append((int(d.name[11:]), d))
            else:  # torn by a kill while saving: useless, and would confuse the Trainer
                shutil.rmtree(d, ignore_errors=True)
    return max(found)[1] if found else None


def _publish(tmp: Path, out: Path) -> None:
    """Move the saved model files from ``tmp`` into ``out``, the ones ``hf:`` looks for last."""
    last = ("config.json", "adapter_config.json")
    files = sorted(tmp.iterdir(), key=lambda f: f.name in last)
    for f in files:
        os.replace(f, out / f.name)
    shutil.rmtree(tmp, ignore_errors=True)


def _name_base_in_adapter(folder: Path, base_spec: str) -> None:
    """PEFT records the folder the base was loaded from (for hf:embedded, a cache path on this
    machine); record the portable spec instead."""
    p = folder / "adapter_config.json"
    if p.is_file():
        cfg = json.loads(p.read_text(encoding="utf-8"))
        cfg["base_model_name_or_path"] = base_spec
        atomic_write_json(p, cfg)


def _marker(out: Path) -> dict[str, Any] | None:
    from instructkit.llm.hf_load import MARKER

    p = out / MARKER
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


# -- training --------------------------------------------------------------------------------------

def load_training_examples(path: str | Path, bad_rows: list | None = None) -> tuple[list[Example], int]:
    """(examples with a non-empty output, number dropped for an empty one)."""
    from instructkit.io import load_examples

    if bad_rows is None:
        exs = load_examples(path)
    else:  # --skip-bad-rows: rows that break the record contract are collected, not fatal
        from instructkit.io import read_examples

        exs, bad = read_examples(path, skip_bad_rows=True)
        bad_rows.extend(bad)
    kept = [e for e in exs if e.output.strip() and (e.instruction.strip() or e.input.strip())]
    return kept, len(exs) - len(kept)


def train(cfg: TrainConfig, argv: list[str] | None = None, skip_bad_rows: bool = False) -> TrainResult:
    """Fine-tune ``cfg.base`` on ``cfg.data`` into ``cfg.out`` (resuming what is there).

    ``skip_bad_rows``: rows that break the record contract go to ``rejected.jsonl`` instead of stopping
    (not part of the config: the examples' ids already make the fingerprint)."""
    from instructkit import ui
    from instructkit.llm import hf_load
    from instructkit.runs import RunDir, check_out_dir

    if not cfg.base.startswith("hf:"):
        raise UserError(f"--model {cfg.base}: give hf:embedded or hf:PATH (a model or adapter folder)")
    if cfg.steps is not None and cfg.steps < 1 or cfg.epochs <= 0 or cfg.max_len < 8 or cfg.batch_size < 1:
        raise UserError("--steps, --epochs and --batch-size must be positive and --max-len at least 8")
    check_out_dir(cfg.out)
    bad_rows: list | None = [] if skip_bad_rows else None
    examples, empty = load_training_examples(cfg.data, bad_rows)
    if not examples:
        raise UserError(f"{cfg.data}: no example has both an instruction and an output")
    out = Path(cfg.out)
    base_ref = hf_load.resolve(cfg.base[3:])
    fp = cfg.fingerprint([e.id for e in examples])
    done = _marker(out)
    if done and done.get("fingerprint") == fp:
        log = json.loads((out / TRAIN_LOG).read_text(encoding="utf-8")) if (out / TRAIN_LOG).is_file() else {}
        return TrainResult(out, int(log.get("steps", 0)), len(examples), int(log.get("dropped", 0)),
                           int(log.get("truncated", 0)), [tuple(x) for x in log.get("losses", [])],
                           float(log.get("seconds", 0.0)), already_done=True)
    if done or (out / "train_config.json").is_file() and json.loads(
            (out / "train_config.json").read_text(encoding="utf-8")).get("fingerprint") != fp:
        raise UserError(f"{out} holds a model trained with other data or settings; use a new --out "
                        "(or delete the folder to retrain)")

    config = {**asdict(cfg), "base": base_ref.spec, "fingerprint": fp, "examples": len(examples)}
    with RunDir(out, command="train", config=config, argv=argv) as run:
        from instructkit.rowcheck import reject_bad_rows

        n_bad = reject_bad_rows(run, bad_rows or [])
        atomic_write_json(out / "train_config.json", {"fingerprint": fp, "config": config})
        result = _fit(cfg, base_ref, examples, out, ui)
        result.dropped += empty
        meta = {"base": base_ref.spec, "method": "lora" if cfg.lora else "full", "fingerprint": fp,
                "data": str(cfg.data), "examples": len(examples), "steps": result.steps}
        atomic_write_json(out / TRAIN_LOG, {"steps": result.steps, "examples": len(examples),
                                            "dropped": result.dropped, "truncated": result.truncated,
                                            "losses": result.losses, "seconds": round(result.seconds, 2),
                                            "resumed_from": result.resumed_from, **meta})
        from instructkit.llm.hf_load import MARKER

        atomic_write_json(out / MARKER, meta)  # written last: its presence means "complete"
        shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
        run.finish(outputs={"model": ".", "log": TRAIN_LOG},
                   counts={"examples": len(examples), "dropped": result.dropped,
                           "truncated": result.truncated, "steps": result.steps, "bad_rows": n_bad},
                   first_loss=result.first_loss, final_loss=result.final_loss)
    return result


def _fit(cfg: TrainConfig, base_ref, examples: list[Example], out: Path, ui) -> TrainResult:
    from instructkit.llm import hf_load

    hf_load.prepare_torch()
    from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments, set_seed

    set_seed(cfg.seed)
    model, tok = hf_load.load(base_ref, merge=True)
    feats, truncated, dropped = [], 0, 0
    for ex in examples:
        f, cut = build_features(tok, ex, cfg.max_len)
        truncated += cut
        if f is None:
            dropped += 1
        else:
            feats.append(f)
    if not feats:
        raise UserError(f"{cfg.data}: no example leaves room for its answer within --max-len {cfg.max_len}")
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        set_seed(cfg.seed)  # the adapter's random init
        model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.05,
                                                 target_modules="all-linear", task_type="CAUSAL_LM"))
    model.train()
    ckpt_dir = out / CHECKPOINTS
    resume = last_complete_checkpoint(ckpt_dir)
    args = TrainingArguments(
        output_dir=str(ckpt_dir), per_device_train_batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
        max_steps=cfg.steps if cfg.steps else -1, num_train_epochs=cfg.epochs, logging_steps=1,
        save_strategy="steps", save_steps=max(1, cfg.save_every), save_total_limit=1, seed=cfg.seed,
        data_seed=cfg.seed, report_to="none", disable_tqdm=True, use_cpu=True, dataloader_num_workers=0,
        remove_unused_columns=False, lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0,
        log_level="error", save_only_model=False)
    losses: list[tuple[int, float]] = []
    timing = {"start": 0.0}

    class _Progress(TrainerCallback):
        def __init__(self, bar):
            self.bar = bar

        def on_train_begin(self, args, state, control, **kw):
            self.bar.set_total(state.max_steps)
            timing["start"] = time.perf_counter()
            if state.global_step:
                self.bar.advance(state.global_step, note=f"resumed at step {state.global_step}")

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                losses.append((state.global_step, round(float(logs["loss"]), 5)))
                self.bar.advance(0, note=f"loss {losses[-1][1]:.3f}")

        def on_step_end(self, args, state, control, **kw):
            if os.environ.get("INSTRUCTKIT_DEBUG_TIMING"):
                print("step", state.global_step, round(time.perf_counter() - timing["start"], 2), flush=True)
            self.bar.advance(1, note=f"loss {losses[-1][1]:.3f}" if losses else "")

    with ui.progress("training", total=cfg.steps) as bar:
        trainer = Trainer(model=model, args=args, train_dataset=feats,
                          data_collator=lambda b: collate(b, tok.pad_token_id), callbacks=[_Progress(bar)])
        trainer.remove_callback(PrinterCallback)  # our bar shows the loss; no dict per step on stdout
        t0 = time.perf_counter()
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        seconds = time.perf_counter() - t0
    # earlier sessions' losses (before a resume) live in the checkpoint's state; keep one history
    history = [(int(h["step"]), round(float(h["loss"]), 5)) for h in trainer.state.log_history if "loss" in h]
    tmp = out / f".final-tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    _name_base_in_adapter(tmp, base_ref.spec)
    _publish(tmp, out)
    return TrainResult(out, int(trainer.state.global_step), len(feats), dropped, truncated, history or losses,
                       seconds, resumed_from=int(resume.name[11:]) if resume else 0)
