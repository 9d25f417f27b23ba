"""Moved: the Ray LLM gate lives beside the door, in :mod:`instructkit.llm.ray_gate` (a
:class:`~instructkit.llm.ray_gate.GateLimiter`, no longer an ``LLM`` subclass). Re-exported here
so existing imports keep working."""

from instructkit.llm.ray_gate import (  # noqa: F401
    LEASE_S, GateLimiter, LLMGate, RemoteBackend, make_gate, process_backend, remote_opener, worker_llm,
)
