import os

from instructkit.llm import local


def test_env_override_wins(monkeypatch):
    monkeypatch.setenv("INSTRUCTKIT_THREADS", "3")
    assert local.default_threads() == 3


def test_busy_machine_gets_fewer_threads(monkeypatch):
    monkeypatch.delenv("INSTRUCTKIT_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(local, "_idle_cores", lambda cores: 0.1)
    assert local.default_threads() == 1
    monkeypatch.setattr(local, "_idle_cores", lambda cores: 3.9)
    assert local.default_threads() == 4
    monkeypatch.setattr(local, "_idle_cores", lambda cores: None)  # no /proc: all cores
    assert local.default_threads() == 4


def test_idle_cores_is_within_the_machine():
    idle = local._idle_cores(os.cpu_count() or 1, interval=0.05)
    assert idle is None or 0.0 <= idle <= (os.cpu_count() or 1) + 1e-6
