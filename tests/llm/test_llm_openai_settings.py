"""``--timeout`` / ``--max-retries`` and their environment overrides: parsing, precedence, plumbing.

No model and no server: the backends are only constructed (they connect lazily). What a server
sees when these settings change is tested against the fault server in test_llm_openai_faults.py.
"""

from __future__ import annotations

import os

import pytest

from conftest import run_cli
from instructkit.errors import UserError
from instructkit.llm import open_model
from instructkit.llm import openai_settings as st

URL = "http://127.0.0.1:9/v1"  # nothing listens there; nothing here connects


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    # setenv first so that monkeypatch restores (or removes) them after tests that export flags
    monkeypatch.setenv(st.ENV_TIMEOUT, "")
    monkeypatch.setenv(st.ENV_MAX_RETRIES, "")


def test_open_model_passes_timeout_and_retries_to_the_openai_backend():
    llm = open_model(f"openai:x@{URL}", timeout=3, max_retries=1)
    assert (llm.backend.timeout, llm.backend.max_retries) == (3.0, 1)
    default = open_model(f"openai:x@{URL}")
    assert (default.backend.timeout, default.backend.max_retries) == (120.0, 5)


def test_settings_stay_out_of_the_model_identity():
    # the identity is what the response cache key is made of: a timeout does not change an answer
    a = open_model(f"openai:x@{URL}", timeout=3, max_retries=0).backend.info
    b = open_model(f"openai:x@{URL}").backend.info
    assert a.identity == b.identity and a.spec == b.spec


def test_environment_overrides_the_default_and_an_argument_wins(monkeypatch):
    monkeypatch.setenv(st.ENV_TIMEOUT, "7.5")
    monkeypatch.setenv(st.ENV_MAX_RETRIES, "0")
    llm = open_model(f"openai:x@{URL}")
    assert (llm.backend.timeout, llm.backend.max_retries) == (7.5, 0)
    llm = open_model(f"openai:x@{URL}", timeout=2, max_retries=3)
    assert (llm.backend.timeout, llm.backend.max_retries) == (2.0, 3)


@pytest.mark.parametrize("spec", ["local", "hf:embedded"])
def test_local_and_hf_models_ignore_them(spec):
    llm = open_model(spec, timeout=3, max_retries=1)  # constructing loads nothing
    assert not hasattr(llm.backend, "max_retries")


@pytest.mark.parametrize("timeout,retries,needle", [
    (0, None, "timeout=0"), (-1.5, None, "timeout=-1.5"), (float("nan"), None, "timeout=nan"),
    ("soon", None, "timeout='soon'"), (None, -1, "max_retries=-1"), (None, 1.5, "max_retries=1.5"),
    (None, True, "max_retries=True"),
])
def test_bad_arguments_are_user_errors(timeout, retries, needle):
    with pytest.raises(UserError) as ei:
        open_model(f"openai:x@{URL}", timeout=timeout, max_retries=retries)
    assert str(ei.value).startswith(needle) and "\n" not in str(ei.value)


@pytest.mark.parametrize("name,value", [(st.ENV_TIMEOUT, "abc"), (st.ENV_TIMEOUT, "0"),
                                        (st.ENV_MAX_RETRIES, "-2"), (st.ENV_MAX_RETRIES, "two")])
def test_bad_environment_values_name_the_variable(name, value):
    with pytest.raises(UserError) as ei:
        st.resolve(env={name: value})
    assert str(ei.value).startswith(f"{name}={value!r}")


def test_model_options_resolves_once_and_leaves_the_environment_alone(monkeypatch):
    from instructkit.cli.common import model_options
    from instructkit.llm import ModelOptions

    assert model_options() == ModelOptions(concurrency=8, timeout=st.DEFAULT_TIMEOUT,
                                           max_retries=st.DEFAULT_MAX_RETRIES)
    assert model_options(30, 0, concurrency=3) == ModelOptions(concurrency=3, timeout=30.0, max_retries=0)
    # no side channel: the process environment is what the user set, nothing more
    assert os.environ[st.ENV_TIMEOUT] == "" and os.environ[st.ENV_MAX_RETRIES] == ""
    monkeypatch.setenv(st.ENV_TIMEOUT, "7")  # the user's own default still applies, below a flag
    assert model_options().timeout == 7.0 and model_options(timeout=2).timeout == 2.0
    opts = model_options(30, 0)
    llm = open_model(f"openai:x@{URL}", options=opts)  # the options travel as data
    assert (llm.backend.timeout, llm.backend.max_retries, llm.concurrency) == (30.0, 0, 8)


def test_model_options_are_frozen_data_that_pickles():
    import dataclasses
    import pickle

    from instructkit.llm import ModelOptions

    opts = ModelOptions(concurrency=2, timeout=5.0, max_retries=1)
    assert pickle.loads(pickle.dumps(opts)) == opts  # how they reach Ray workers
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.timeout = 9.0  # type: ignore[misc]
    assert opts.replace(timeout=None, max_retries=3) == ModelOptions(concurrency=2, timeout=5.0, max_retries=3)


def test_a_flag_wins_over_a_bad_environment_value(monkeypatch):
    from instructkit.cli.common import model_options

    monkeypatch.setenv(st.ENV_MAX_RETRIES, "lots")
    assert model_options(max_retries=2).max_retries == 2
    assert os.environ[st.ENV_MAX_RETRIES] == "lots"
    with pytest.raises(UserError, match=st.ENV_MAX_RETRIES):
        model_options(timeout=5)  # no retry flag: the environment's bad count is reported up front


CHAT = ("chat", "--model", f"openai:x@{URL}", "hi")


@pytest.mark.parametrize("args,env,needle", [
    (["--timeout", "0"], {}, "--timeout 0: must be a number of seconds above 0"),
    (["--timeout", "-3"], {}, "--timeout -3: must be a number of seconds above 0"),
    (["--max-retries", "-1"], {}, "--max-retries -1: must be a whole number, 0 or more"),
    ([], {st.ENV_TIMEOUT: "never"}, f"{st.ENV_TIMEOUT}='never' (in the environment)"),
    ([], {st.ENV_MAX_RETRIES: "-4"}, f"{st.ENV_MAX_RETRIES}='-4' (in the environment)"),
])
def test_cli_bad_values_exit_2_with_one_line(args, env, needle):
    r = run_cli(*CHAT, *args, env=env, timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0], r.stderr


@pytest.mark.parametrize("command", [["chat"], ["dynosaur"], ["glan"], ["select", "qdit"],
                                     ["select", "active"], ["eval"]])
def test_every_model_command_takes_the_flags(command):
    r = run_cli(*command, "--help", env={"COLUMNS": "250"}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "--timeout" in r.stdout and "--max-retries" in r.stdout and "INSTRUCTKIT_OPENAI_TIMEOUT" in r.stdout


def test_a_bad_flag_fails_before_the_run_directory_is_made(tmp_path):
    out = tmp_path / "dyno"
    r = run_cli("dynosaur", "examples/science_mc", "--out", str(out), "--model", f"openai:x@{URL}",
                "--max-retries", "-1", timeout=60)
    assert r.returncode == 2 and "--max-retries -1" in r.stderr, r.stderr
    assert not out.exists()


def test_glan_model_pool_passes_them_and_ray_workers_inherit_the_exported_values(monkeypatch):
    from instructkit.executors.ray_exec import runtime_env
    from instructkit.generate.glan.context import GlanConfig, ModelPool
    from instructkit.llm.usage import UsageLedger

    pool = ModelPool(None, UsageLedger(), timeout=4, max_retries=2)
    assert (pool.get(f"openai:x@{URL}").backend.timeout, pool.get(f"openai:x@{URL}").backend.max_retries) == (4.0, 2)
    assert GlanConfig(timeout=4, max_retries=2).to_dict()["max_retries"] == 2  # recorded like --concurrency
    monkeypatch.setenv(st.ENV_TIMEOUT, "9.0")
    monkeypatch.setenv(st.ENV_MAX_RETRIES, "1")
    env = runtime_env()["env_vars"]
    assert env[st.ENV_TIMEOUT] == "9.0" and env[st.ENV_MAX_RETRIES] == "1"
