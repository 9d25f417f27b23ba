"""Fault injection: a small local HTTP server that misbehaves on cue, in front of our OpenAI backend.

Each test scripts the server's next answers (429 with Retry-After, 500, slow, malformed JSON, a
rejected response_format, then OK) and checks what the client does: retries, waits, never hangs
past its timeout, reports failures in the ledger, raises ModelError after its retries.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import run_cli
from instructkit.errors import ModelError, UnsupportedError
from instructkit.llm import LLM
from instructkit.llm.openai import OpenAIBackend, retry_after_seconds
from instructkit.llm.usage import UsageLedger

SCHEMA = {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}
SECRET = "sk-test-FAULTKEY-0123456789"


def ok_body(text: str = "hello") -> dict:
    return {"id": "c1", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}


class FaultServer:
    """Serves scripted actions in order; after the script runs out it answers OK."""

    def __init__(self):
        self.script: list[tuple] = []
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.times: list[float] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                with outer.lock:
                    outer.requests.append(body)
                    outer.headers.append(dict(self.headers))
                    outer.times.append(time.monotonic())
                    action = outer.script.pop(0) if outer.script else ("ok",)
                outer.act(self, action, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def act(self, h: BaseHTTPRequestHandler, action: tuple, body: dict) -> None:
        kind = action[0]

        def send(code: int, payload: bytes, headers: dict | None = None):
            h.send_response(code)
            h.send_header("content-type", "application/json")
            h.send_header("content-length", str(len(payload)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(payload)

        try:
            if kind == "ok":
                send(200, json.dumps(ok_body(action[1] if len(action) > 1 else "hello")).encode())
            elif kind == "429":
                send(429, b'{"error": {"message": "slow down"}}', {"retry-after": str(action[1])})
            elif kind == "500":
                send(500, b'{"error": {"message": "boom"}}')
            elif kind == "malformed":
                send(200, b'{"id": "c1", "choices": [ {"index": 0, "mess')
            elif kind == "slow":
                time.sleep(action[1])
                send(200, json.dumps(ok_body()).encode())
            elif kind == "trickle":  # headers at once, then one byte per interval: defeats per-read timeouts
                payload = json.dumps(ok_body()).encode()
                h.send_response(200)
                h.send_header("content-type", "application/json")
                h.send_header("content-length", str(len(payload)))
                h.end_headers()
                for b in payload:
                    h.wfile.write(bytes([b]))
                    h.wfile.flush()
                    time.sleep(action[1])
            elif kind == "reject_format":  # 400 when a response_format of the given type is sent
                rf = (body.get("response_format") or {}).get("type")
                if rf in action[1]:
                    send(action[2], json.dumps({"error": {"message": f"response_format {rf} not supported"}}).encode())
                else:
                    send(200, json.dumps(ok_body('{"color": "red"}')).encode())
            elif kind == "echo_key":  # an error body that repeats the bearer it got
                send(action[1], json.dumps({"error": {"message": f"bad key {h.headers.get('authorization')}"}}).encode())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on us: that is the point of the slow cases

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FaultServer()
    yield s
    s.close()


def make_llm(server: FaultServer, **kw) -> LLM:
    opts = dict(timeout=1.0, max_retries=3, backoff_base=0.01, max_backoff=0.05, api_key=SECRET)
    opts.update(kw)
    return LLM(OpenAIBackend("m", base_url=server.url, **opts), ledger=UsageLedger(), concurrency=4)


def chat(llm: LLM, **kw):
    async def go():
        try:
            return await llm.chat([{"role": "user", "content": "hi"}], max_tokens=8, **kw)
        finally:
            await llm.aclose()
    return asyncio.run(go())


def test_retries_429_and_honours_retry_after(server):
    server.script = [("429", 1), ("ok", "fine")]
    llm = make_llm(server)
    t0 = time.monotonic()
    out = chat(llm)
    assert out.text == "fine"
    assert len(server.requests) == 2
    gap = server.times[1] - server.times[0]
    assert gap >= 0.95, f"Retry-After: 1 not honoured (retried after {gap:.2f}s)"
    assert time.monotonic() - t0 < 5
    assert llm.ledger.retries["rate_limit"] == 1 and not llm.ledger.failures
    assert llm.ledger.calls == 1 and llm.ledger.prompt_tokens == 5


def test_retry_after_is_capped(server):
    server.script = [("429", 3600), ("ok",)]
    llm = make_llm(server, max_retry_wait=0.2)
    t0 = time.monotonic()
    assert chat(llm).text == "hello"
    assert time.monotonic() - t0 < 3


def test_500_retried_then_model_error_with_failure_in_ledger(server):
    server.script = [("500",)] * 10
    llm = make_llm(server, max_retries=2)
    with pytest.raises(ModelError) as ei:
        chat(llm)
    assert ei.value.kind == "server" and "HTTP 500" in str(ei.value) and "3 attempts" in str(ei.value)
    assert len(server.requests) == 3  # first try + 2 retries, then it gives up
    assert llm.ledger.failures["server"] == 1 and llm.ledger.retries["server"] == 2
    assert llm.ledger.snapshot()["failures"] == {"server": 1}


def test_transient_500_recovers(server):
    server.script = [("500",), ("500",), ("ok", "back")]
    llm = make_llm(server)
    assert chat(llm).text == "back"
    assert llm.ledger.retries["server"] == 2 and not llm.ledger.failures


def test_slow_server_never_holds_a_call_past_its_timeout(server):
    server.script = [("slow", 5)] * 3
    llm = make_llm(server, timeout=0.5, max_retries=1)
    t0 = time.monotonic()
    with pytest.raises(ModelError) as ei:
        chat(llm)
    elapsed = time.monotonic() - t0
    assert ei.value.kind == "timeout"
    assert elapsed < 2.5, f"two 0.5 s attempts took {elapsed:.1f}s"
    assert llm.ledger.failures["timeout"] == 1 and llm.ledger.retries["timeout"] == 1


def test_trickling_server_is_cut_at_the_timeout(server):
    # each byte arrives well within any per-read timeout, but the whole body would take ~minutes
    server.script = [("trickle", 0.2)]
    llm = make_llm(server, timeout=0.8, max_retries=0)
    t0 = time.monotonic()
    with pytest.raises(ModelError) as ei:
        chat(llm)
    assert ei.value.kind == "timeout"
    assert time.monotonic() - t0 < 2.0


def test_malformed_json_is_retried_then_reported(server):
    server.script = [("malformed",), ("ok", "recovered")]
    llm = make_llm(server)
    assert chat(llm).text == "recovered"
    assert llm.ledger.retries["bad_response"] == 1

    server.script = [("malformed",)] * 5
    llm = make_llm(server, max_retries=1)
    with pytest.raises(ModelError) as ei:
        chat(llm)
    assert ei.value.kind == "bad_response" and llm.ledger.failures["bad_response"] == 1


def test_connection_refused_is_a_connection_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    llm = LLM(OpenAIBackend("m", base_url=f"http://127.0.0.1:{port}/v1", timeout=1, max_retries=1,
                            backoff_base=0.01), ledger=UsageLedger())
    with pytest.raises(ModelError) as ei:
        chat(llm)
    assert ei.value.kind == "connection" and llm.ledger.failures["connection"] == 1


@pytest.mark.parametrize("status,kind", [(401, "auth"), (400, "bad_request")])
def test_client_errors_not_retried_and_key_never_in_message(server, status, kind):
    server.script = [("echo_key", status)] * 5
    llm = make_llm(server)
    with pytest.raises(ModelError) as ei:
        chat(llm)
    assert ei.value.kind == kind and len(server.requests) == 1
    sent = {k.lower(): v for k, v in server.headers[0].items()}
    assert sent["authorization"] == f"Bearer {SECRET}"  # it was really sent (and echoed back)
    assert SECRET not in str(ei.value)
    assert SECRET not in json.dumps(llm.backend.info.identity) and SECRET not in llm.spec


@pytest.mark.parametrize("status", [400, 500])
def test_structured_output_falls_back_and_remembers_the_mode(server, status):
    # a server that rejects json_schema (llama-cpp-python answers 500 naming the field; others 400)
    server.script = [("reject_format", ("json_schema",), status)] * 20
    llm = make_llm(server)

    async def go():
        try:
            return await asyncio.gather(*[llm.chat([{"role": "user", "content": f"c{i}"}], schema=SCHEMA)
                                          for i in range(5)])
        finally:
            await llm.aclose()
    outs = asyncio.run(go())
    assert all(o.parsed == {"color": "red"} and o.parse_error is None for o in outs)
    modes = [(r.get("response_format") or {}).get("type") for r in server.requests]
    # five parallel calls, one rejected json_schema attempt in all, the rest straight to json_object
    assert modes.count("json_schema") == 1 and modes.count("json_object") == 5
    assert llm.backend.mode == "json_object"
    assert next(r for r in server.requests if (r.get("response_format") or {}).get("type") == "json_object"
                )["response_format"]["schema"] == SCHEMA


def test_structured_output_falls_back_to_prompt(server):
    server.script = [("reject_format", ("json_schema", "json_object"), 400)] * 10
    llm = make_llm(server)
    out = chat(llm, schema=SCHEMA)
    assert out.parsed == {"color": "red"}
    last = server.requests[-1]
    assert "response_format" not in last and '"color"' in last["messages"][-1]["content"]
    assert llm.backend.mode == "prompt" and len(server.requests) == 3


def test_top_logprobs_mapped(server):
    body = ok_body("ab")
    body["choices"][0]["logprobs"] = {"content": [
        {"token": "a", "logprob": -0.1, "top_logprobs": [{"token": "a", "logprob": -0.1}, {"token": "b", "logprob": -2.5}]},
        {"token": "b", "logprob": -0.3, "top_logprobs": [{"token": "b", "logprob": -0.3}]}]}
    server.act = lambda h, action, req: (h.send_response(200), h.send_header("content-type", "application/json"),
                                          h.end_headers(), h.wfile.write(json.dumps(body).encode()))
    llm = make_llm(server)
    out = chat(llm, logprobs=2)
    assert out.top_logprobs == [{"a": -0.1, "b": -2.5}, {"b": -0.3}]
    assert server.requests[0]["logprobs"] is True and server.requests[0]["top_logprobs"] == 2


def test_score_messages_is_unsupported(server):
    llm = make_llm(server)
    with pytest.raises(UnsupportedError, match="chat template"):
        asyncio.run(llm.score([{"role": "user", "content": "x"}], "y"))
    assert llm.ledger.failures["unsupported"] == 1


# -- the CLI's --max-retries / --timeout (and their environment overrides) reach the backend ----
def chat_cli(server: FaultServer, *flags: str, env: dict[str, str] | None = None):
    clean = {"INSTRUCTKIT_OPENAI_TIMEOUT": "", "INSTRUCTKIT_OPENAI_MAX_RETRIES": ""}
    return run_cli("chat", "--model", f"openai:m@{server.url}", "--quiet", *flags, "hi",
                   env={**clean, **(env or {})}, timeout=120)


def test_cli_max_retries_0_fails_on_the_first_500_while_the_default_retries(server):
    server.script = [("500",), ("ok", "back")]
    r = chat_cli(server, "--max-retries", "0")
    assert r.returncode == 1 and "HTTP 500" in r.stderr and "attempts" not in r.stderr, r.stderr
    assert len(server.requests) == 1  # one attempt, no retry

    server.requests.clear()
    server.script = [("500",), ("500",), ("ok", "back")]
    r = chat_cli(server)  # default: 5 retries (backoff 0.5 s, 1 s at most here)
    assert r.returncode == 0 and r.stdout.strip() == "back", r.stderr
    assert len(server.requests) == 3


def test_cli_env_max_retries_applies_and_the_flag_wins(server):
    server.script = [("500",), ("ok", "back")]
    r = chat_cli(server, env={"INSTRUCTKIT_OPENAI_MAX_RETRIES": "0"})
    assert r.returncode == 1 and "HTTP 500" in r.stderr and len(server.requests) == 1, r.stderr

    server.requests.clear()
    server.script = [("500",), ("ok", "back")]
    r = chat_cli(server, "--max-retries", "1", env={"INSTRUCTKIT_OPENAI_MAX_RETRIES": "0"})
    assert r.returncode == 0 and r.stdout.strip() == "back" and len(server.requests) == 2, r.stderr


def test_cli_timeout_bounds_each_attempt(server):
    server.script = [("slow", 30)] * 2  # with the default 120 s the first attempt would succeed at 30 s
    t0 = time.monotonic()
    r = chat_cli(server, "--timeout", "0.5", "--max-retries", "1")
    assert r.returncode == 1 and "no answer within 0.5s (after 2 attempts)" in r.stderr, r.stderr
    assert len(server.requests) == 2 and time.monotonic() - t0 < 20


def test_timeout_and_retries_stay_out_of_the_cache_key(server, tmp_path):
    from instructkit.llm.cache import ResponseCache

    cache = ResponseCache(tmp_path / "cache.sqlite")
    server.script = [("ok", "first")]
    a = make_llm(server, timeout=1.0, max_retries=3)
    a.cache = cache
    assert chat(a).text == "first"
    b = make_llm(server, timeout=9.0, max_retries=0)
    b.cache = cache
    out = chat(b)
    assert out.text == "first" and out.cached and len(server.requests) == 1


def test_retry_after_parsing():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "soon"}) is None
    date = "Wed, 21 Oct 2015 07:28:10 GMT"
    import email.utils

    now = email.utils.parsedate_to_datetime(date).timestamp() - 7
    assert abs(retry_after_seconds({"retry-after": date}, now=now) - 7) < 1e-6
