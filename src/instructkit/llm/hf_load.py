"""Resolve and load ``hf:`` model specs with transformers (shared by the backend and ``train``).

Three kinds of folder are understood:

* ``hf:embedded`` - the bundled SmolLM2-135M-Instruct GGUF. transformers dequantizes it to float32
  (~20 s on two cores); the result is saved once as a plain transformers folder under the
  instructkit cache (``$INSTRUCTKIT_CACHE/hf/``) so later loads take about a second.
* ``hf:PATH`` with ``config.json`` - a saved model (``instructkit train --full`` writes these).
* ``hf:PATH`` with ``adapter_config.json`` - a PEFT (LoRA) adapter. Its base is named in
  ``instructkit_model.json`` (``{"base": "hf:embedded"}``, written by ``instructkit train``),
  else in the adapter's own ``base_model_name_or_path``. The adapter is merged into the base
  at load time, so generation runs at the plain model's speed.

A ``.gguf`` file may also be named directly (``hf:/path/model.gguf``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instructkit.errors import UserError

MARKER = "instructkit_model.json"  # written by `instructkit train` beside the weights
# bookkeeping beside the weights: holds paths and timings, so it must not enter the identity
_NOT_WEIGHTS = {"manifest.json", "training.json", "train_config.json", "trainer_state.json", MARKER}
_BIG = 64 * 1024 * 1024  # files above this are fingerprinted by size + head + tail, not read whole


@dataclass(frozen=True)
class ModelRef:
    """Where an ``hf:`` spec's weights are: ``kind`` is embedded, gguf, full or adapter."""

    spec: str
    kind: str
    path: Path
    base: "ModelRef | None" = None


def resolve(spec_path: str) -> ModelRef:
    """The :class:`ModelRef` of the part after ``hf:`` (raises UserError when it names nothing usable)."""
    if spec_path in ("embedded", "default", ""):
        from instructkit.llm.local import embedded_model_path

        return ModelRef("hf:embedded", "embedded", embedded_model_path())
    p = Path(spec_path).expanduser()
    if p.is_file() and p.suffix.lower() == ".gguf":
        return ModelRef(f"hf:{p}", "gguf", p.resolve())
    if not p.is_dir():
        raise UserError(f"hf:{spec_path}: no such model folder; give hf:embedded or a folder written by "
                        "'instructkit train' (or any transformers model / PEFT adapter folder)")
    p = p.resolve()
    if (p / "adapter_config.json").is_file():
        base_spec = _adapter_base(p)
        if base_spec.startswith("hf:"):
            base_spec = base_spec[3:]
        try:
            base = resolve(base_spec)
        except UserError as e:
            raise UserError(f"hf:{spec_path}: the adapter's base model cannot be found ({e}); write "
                            f'{{"base": "hf:PATH"}} into {p / MARKER}') from None
        return ModelRef(f"hf:{p}", "adapter", p, base)
    if (p / "config.json").is_file():
        return ModelRef(f"hf:{p}", "full", p)
    raise UserError(f"hf:{spec_path}: the folder holds neither config.json nor adapter_config.json; "
                    "is the training finished? (re-run 'instructkit train' to complete it)")


def _adapter_base(folder: Path) -> str:
    marker = folder / MARKER
    if marker.is_file():
        try:
            base = json.loads(marker.read_text(encoding="utf-8")).get("base")
        except json.JSONDecodeError:
            raise UserError(f"{marker}: not valid JSON; restore it or delete it") from None
        if base:
            return str(base)
    try:
        cfg = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise UserError(f"{folder / 'adapter_config.json'}: not valid JSON") from None
    base = cfg.get("base_model_name_or_path")
    if not base:
        raise UserError(f"{folder}: adapter without a base model; write {{\"base\": \"hf:embedded\"}} into {marker}")
    return str(base)


def _file_fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(f"{path.name}:{size}".encode())
    with open(path, "rb") as f:
        if size <= _BIG:
            h.update(f.read())
        else:  # weights this large are not hashed whole: head, tail and size change with any retrain
            h.update(f.read(1 << 20))
            f.seek(size - (1 << 20))
            h.update(f.read())
    return h.hexdigest()[:16]


def identity(ref: ModelRef) -> dict[str, Any]:
    """What makes this model's answers what they are, for cache keys: content, never mtimes or paths.

    Two folders holding the same trained weights share cache entries; a retrained folder does not.
    """
    if ref.kind in ("embedded", "gguf"):
        return {"backend": "transformers", "gguf": ref.path.name, "size": ref.path.stat().st_size}
    files = sorted(f for f in ref.path.iterdir() if f.is_file() and (
        f.suffix in (".json", ".safetensors", ".bin", ".model", ".jinja", ".txt")
        and f.name not in _NOT_WEIGHTS))
    out: dict[str, Any] = {"backend": "transformers", "kind": ref.kind,
                           "files": {f.name: _file_fingerprint(f) for f in files}}
    if ref.base is not None:
        out["base"] = identity(ref.base)
    return out


def prepare_torch() -> None:
    """Call before torch is first imported: CPU threads that wait for each other should sleep, not spin.

    With OpenMP's default (spinning) waits, two torch threads on a busy two-core machine slow a
    training step from ~3 s to 10-25 s; passive waits cost nothing measurable when the machine is idle.
    """
    import sys

    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _quiet_transformers() -> None:
    """transformers' own tqdm bars and deprecation chatter would interleave with our progress bars."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)\b.*")


def _embedded_cache_folder(gguf: Path) -> Path:
    from instructkit.embed import default_cache_dir

    return default_cache_dir() / "hf" / f"{gguf.stem}-{gguf.stat().st_size}"


def _from_gguf(gguf: Path, cache: bool):
    """(model, tokenizer) from a GGUF, through a dequantized copy in the cache when ``cache``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = _embedded_cache_folder(gguf)
    if cache and (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return _from_folder(folder)
    try:
        import gguf as _gguf  # noqa: F401 - transformers needs it and says so less clearly
    except ImportError:
        raise UserError("loading a GGUF with transformers needs: pip install 'instructkit[train]'") from None
    from instructkit import ui

    ui.info(f"converting {gguf.name} to float32 for transformers (once; ~20-40 s)")
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype="float32")
    _forget_gguf_origin(model)
    if cache:
        try:
            tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            if folder.exists():  # another process won the race; keep theirs
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                os.replace(tmp, folder)
        except OSError:  # a read-only or full cache is not fatal: we already hold the model
            pass
    return model, tok


def _forget_gguf_origin(model) -> None:
    """The weights are plain float32 after dequantizing, but transformers still marks the model as
    GGUF-quantized, which forbids saving and training it; drop that mark."""
    model.hf_quantizer = None
    model.is_quantized = False
    model.quantization_method = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def _from_folder(folder: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype="float32")
    return model, tok


def load(ref: ModelRef, merge: bool = True, cache: bool = True):
    """(model, tokenizer) for ``ref``, in float32 on the CPU, in eval mode.

    An adapter is applied to its (recursively loaded) base; with ``merge`` it is folded into the
    weights, otherwise the PeftModel is returned (for further training).
    """
    prepare_torch()
    _quiet_transformers()
    if ref.kind in ("embedded", "gguf"):
        model, tok = _from_gguf(ref.path, cache=cache)
    elif ref.kind == "full":
        model, tok = _from_folder(ref.path)
    else:
        from peft import PeftModel
        from transformers import AutoTokenizer

        assert ref.base is not None
        base, tok = load(ref.base, merge=True, cache=cache)
        if any((ref.path / n).is_file() for n in ("tokenizer.json", "tokenizer_config.json")):
            tok = AutoTokenizer.from_pretrained(str(ref.path))
        model = PeftModel.from_pretrained(base, str(ref.path))
        if merge:
            model = model.merge_and_unload()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model.eval()
    return model, tok
