"""The Ollama client's bounds against a real loopback server that misbehaves: endless,
dripping, hanging, one endless line, and a host with a password."""
from __future__ import annotations

import threading
import time
import tracemalloc

import pytest

from infrastructure.ollama_client import OllamaClient
from infrastructure.ollama_errors import (
    DeadlineExceeded,
    OllamaError,
    OllamaTimeout,
    OllamaUnreachable,
    ResponseTooLarge,
)
from tests.support.fake_ollama import Drip, Endless, FailWithStatus, FakeOllama, Hang, LongLine, unused_port

MESSAGES = [{"role": "user", "content": "# Task: Say hello"}]
MiB = 1024 * 1024


@pytest.fixture
def fake():
    with FakeOllama(models=["mistral:latest"]) as server:
        yield server


def test_an_endless_stream_is_cut_at_the_response_cap_while_streaming_with_bounded_memory(fake):
    fake.behaviour = Endless(total_bytes=400 * MiB)
    client = OllamaClient(fake.url, read_timeout=5, max_response_bytes=1 * MiB)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ResponseTooLarge) as err:
            client.chat_stream("mistral", MESSAGES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        client.close()
    took = time.monotonic() - started
    assert len(err.value.partial_text.encode()) == 1 * MiB and set(err.value.partial_text) == {"x"}
    assert "OLLAMA_MAX_RESPONSE_BYTES=1048576" in str(err.value) and "stopped" in str(err.value)
    assert peak < 24 * MiB, f"peak Python memory {peak / MiB:.1f} MiB"
    assert took < 10
    time.sleep(0.2)
    assert fake.bytes_sent < 40 * MiB  # the request was stopped, not read to its end


def test_one_endless_line_is_refused_at_the_line_bound(fake):
    fake.behaviour = LongLine(total_bytes=400 * MiB)
    with OllamaClient(fake.url, read_timeout=5) as client, pytest.raises(ResponseTooLarge, match="one line") as err:
        client.chat_stream("mistral", MESSAGES)
    assert err.value.partial_text == ""
    time.sleep(0.2)
    assert fake.bytes_sent < 40 * MiB


def test_a_dripping_stream_stops_at_the_overall_deadline_naming_the_setting(fake):
    fake.behaviour = Drip(interval=0.1, piece="drip ")
    seen: list[str] = []
    started = time.monotonic()
    with OllamaClient(fake.url, read_timeout=5, max_seconds=1.5) as client, pytest.raises(DeadlineExceeded) as err:
        client.chat_stream("mistral", MESSAGES, on_text=seen.append)
    took = time.monotonic() - started
    assert 1.4 < took < 4, took
    assert "OLLAMA_MAX_SECONDS=1.5" in str(err.value)
    assert err.value.partial_text.startswith("drip drip") and err.value.partial_text == "".join(seen)


@pytest.mark.parametrize("after", [0, 2], ids=["before-headers", "mid-stream"])
def test_a_hanging_server_is_bounded_by_the_deadline_even_with_a_long_read_timeout(fake, after):
    fake.behaviour = Hang(after=after)
    started = time.monotonic()
    with OllamaClient(fake.url, read_timeout=60, max_seconds=1) as client, pytest.raises(DeadlineExceeded) as err:
        client.chat_stream("mistral", MESSAGES)
    assert time.monotonic() - started < 4
    assert err.value.partial_text == ("Hello, " if after else "")


def test_a_hanging_server_is_bounded_by_the_read_timeout(fake):
    fake.behaviour = Hang(after=1)
    started = time.monotonic()
    with OllamaClient(fake.url, read_timeout=0.5, max_seconds=60) as client, pytest.raises(OllamaTimeout, match="OLLAMA_TIMEOUT"):
        client.chat_stream("mistral", MESSAGES)
    assert time.monotonic() - started < 4


def test_a_model_list_that_never_comes_is_bounded(fake):
    fake.tags_hang = True
    started = time.monotonic()
    with OllamaClient(fake.url, read_timeout=1) as client, pytest.raises(OllamaError) as err:
        client.list_models()
    assert time.monotonic() - started < 4
    assert "1 s" in str(err.value)


def test_a_cancel_stops_a_silent_stream_too(fake):
    fake.behaviour = Hang(after=1)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    with OllamaClient(fake.url, read_timeout=60) as client:
        outcome = client.chat_stream("mistral", MESSAGES, should_stop=stop.is_set)
    assert outcome.stopped and outcome.text == "Hello" and time.monotonic() - started < 3


def test_a_password_in_the_host_appears_in_no_message(fake):
    secret = "s3cr3t-Pa55word"
    # A user name no other test registers as a secret: the registry is process-wide, and a
    # unit test's malformed MCP_API_KEYS entry "alice" is registered (it may be a key).
    down = OllamaClient(f"http://ollama-admin:{secret}@127.0.0.1:{unused_port()}", read_timeout=2)
    with pytest.raises(OllamaUnreachable) as err:
        down.chat_stream("mistral", MESSAGES)
    assert secret not in str(err.value) and "ollama-admin:***@127.0.0.1" in str(err.value)
    assert secret not in down.check("mistral")[1] and secret not in repr(down)
    fake.behaviour = FailWithStatus(500, "boom")
    with OllamaClient(f"http://ollama-admin:{secret}@127.0.0.1:{fake.port}", read_timeout=2) as up:
        with pytest.raises(OllamaError) as err:
            up.chat_stream("mistral", MESSAGES)
        assert secret not in str(err.value) and "HTTP 500" in str(err.value)
        with pytest.raises(OllamaError) as err:
            up.chat_stream("gemma", MESSAGES)
        assert secret not in str(err.value) and "ollama pull gemma" in str(err.value)
        assert up.check("mistral")[0] and secret not in up.check("mistral")[1]
