"""How hf: specs resolve to folders, and what enters their cache identity (no weights loaded)."""

from __future__ import annotations

import json

import pytest

from instructkit.errors import UserError
from instructkit.llm.hf_load import MARKER, identity, resolve
from tests.conftest import run_cli


def _adapter(folder, weights=b"w1"):
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/elsewhere", "r": 8}))
    (folder / "adapter_model.safetensors").write_bytes(weights)
    (folder / MARKER).write_text(json.dumps({"base": "hf:embedded", "data": str(folder)}))
    return folder


def test_adapter_folder_resolves_to_its_marked_base(tmp_path):
    ref = resolve(str(_adapter(tmp_path / "a")))
    assert ref.kind == "adapter" and ref.base.kind == "embedded" and ref.spec == f"hf:{tmp_path / 'a'}"
    assert resolve("embedded").spec == "hf:embedded"


def test_identity_follows_weight_content_not_bookkeeping_or_place(tmp_path):
    a = identity(resolve(str(_adapter(tmp_path / "a"))))
    b = identity(resolve(str(_adapter(tmp_path / "b"))))  # same weights elsewhere, other marker text
    c = identity(resolve(str(_adapter(tmp_path / "c", weights=b"w2"))))
    assert a == b and a != c
    (tmp_path / "a" / "manifest.json").write_text("{}")
    assert identity(resolve(str(tmp_path / "a"))) == a


def test_unusable_folders_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such model folder"):
        resolve(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="neither config.json nor adapter_config.json"):
        resolve(str(tmp_path / "empty"))
    orphan = tmp_path / "orphan"
    orphan.mkdir()
    (orphan / "adapter_config.json").write_text(json.dumps({"r": 8}))
    with pytest.raises(UserError, match="base"):
        resolve(str(orphan))


def test_cli_bad_model_or_data_fails_in_one_line_and_writes_nothing(tmp_path):
    task = tmp_path / "t.json"
    task.write_text(json.dumps({"Definition": "x", "Instances": [{"input": "a", "output": ["b"]}]}))
    p = run_cli("eval", f"hf:{tmp_path / 'nope'}", "--tasks", task, "--out", tmp_path / "ev")
    assert p.returncode == 2 and p.stderr.startswith("error: hf:") and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "ev").exists()
    p = run_cli("train", tmp_path / "missing.jsonl", "--out", tmp_path / "m")
    assert p.returncode == 2 and "missing.jsonl" in p.stderr and not (tmp_path / "m").exists()
