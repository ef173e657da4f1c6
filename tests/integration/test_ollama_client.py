"""The Ollama client against a real HTTP server on 127.0.0.1 that answers like Ollama."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from infrastructure.ollama_client import ChatOutcome, OllamaClient, normalize_host
from infrastructure.ollama_errors import (
    ModelNotFound,
    OllamaError,
    OllamaHTTPError,
    OllamaProtocolError,
    OllamaTimeout,
    OllamaUnreachable,
    StreamInterrupted,
)
from domain.errors import ExecutionError
from tests.support.fake_ollama import (
    DropMidStream,
    EndWithoutDone,
    ErrorInStream,
    FailWithStatus,
    FakeOllama,
    Hang,
    Malformed,
    Succeed,
    unused_port,
)

REPO = Path(__file__).resolve().parents[2]
MESSAGES = [{"role": "user", "content": "# Task: Say hello"}]


@pytest.fixture
def fake():
    with FakeOllama(models=["mistral:latest", "qwen2.5:0.5b"]) as server:
        yield server


@pytest.fixture
def client(fake):
    with OllamaClient(fake.url, read_timeout=2.0) as c:
        yield c


@pytest.fixture
def impatient_client(fake):
    with OllamaClient(fake.url, read_timeout=0.5) as c:
        yield c


def raised(excinfo: pytest.ExceptionInfo) -> str:
    """The message, checked to be one line (doctor and tool errors print it as one)."""
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# -- success ------------------------------------------------------------------------


def test_a_streamed_answer_is_joined_and_carries_the_final_records_counts(fake, client):
    fake.behaviour = Succeed(chunks=["Hel", "lo", " there"], prompt_eval_count=31, eval_count=7,
                             total_duration=2_500_000_000)
    pieces: list[str] = []

    outcome = client.chat_stream("mistral", MESSAGES, on_text=pieces.append)

    assert outcome == ChatOutcome(
        text="Hello there",
        prompt_eval_count=31,
        eval_count=7,
        total_duration_ns=2_500_000_000,
        done_reason="stop",
        completed=True,
        stopped=False,
    )
    assert pieces == ["Hel", "lo", " there"]


def test_the_request_names_the_model_sends_the_messages_and_asks_for_a_stream(fake, client):
    client.chat_stream("mistral", MESSAGES, options={"temperature": 0})

    assert fake.chat_bodies == [
        {"model": "mistral", "messages": MESSAGES, "stream": True, "options": {"temperature": 0}}
    ]


def test_pieces_are_handed_over_as_they_arrive_not_when_the_answer_ends(fake, client):
    fake.behaviour = Succeed(chunks=["a", "b", "c", "d"], delay=0.08)
    arrivals: list[float] = []

    client.chat_stream("mistral", MESSAGES, on_text=lambda _piece: arrivals.append(time.monotonic()))

    assert len(arrivals) == 4
    assert arrivals[-1] - arrivals[0] >= 0.2


def test_the_installed_models_are_listed_by_name_sorted(fake, client):
    fake.models = ["qwen2.5:0.5b", "mistral:latest"]

    assert client.list_models() == ["mistral:latest", "qwen2.5:0.5b"]


def test_a_host_without_scheme_is_accepted_like_ollama_host_allows(fake):
    with OllamaClient(f"127.0.0.1:{fake.port}", read_timeout=2.0) as c:
        assert c.list_models() == ["mistral:latest", "qwen2.5:0.5b"]
    assert normalize_host("localhost") == "http://localhost:11434"
    assert normalize_host("http://gpu-box:8080/") == "http://gpu-box:8080"
    assert normalize_host("") == "http://localhost:11434"


def test_one_session_is_made_on_first_use_and_reused_until_close(fake):
    c = OllamaClient(fake.url, read_timeout=2.0)
    assert c._session is None  # constructing connects nothing

    c.list_models()
    first = c._session
    c.chat_stream("mistral", MESSAGES)
    assert c._session is first

    c.close()
    assert c._session is None
    assert c.list_models()  # usable again after close


def test_importing_the_client_does_not_import_requests():
    code = "import sys, infrastructure.ollama_client; print('requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "False"


# -- the client cancels ----------------------------------------------------------------


def test_should_stop_ends_the_stream_early_and_keeps_the_text_received(fake, client):
    fake.behaviour = Succeed(chunks=["one ", "two ", "three ", "four ", "five "], delay=0.05)
    pieces: list[str] = []

    outcome = client.chat_stream(
        "mistral", MESSAGES, on_text=pieces.append, should_stop=lambda: len(pieces) >= 2
    )

    assert outcome.stopped is True
    assert outcome.completed is False
    assert outcome.text == "one two "
    assert (outcome.prompt_eval_count, outcome.eval_count) == (None, None)
    # The client is still usable for the next run.
    fake.behaviour = Succeed(chunks=["again"])
    assert client.chat_stream("mistral", MESSAGES).text == "again"


# -- failures ---------------------------------------------------------------------------


def test_a_missing_model_lists_the_installed_ones_and_says_how_to_pull_it(fake, client):
    with pytest.raises(ModelNotFound) as excinfo:
        client.chat_stream("llama3", MESSAGES)

    message = raised(excinfo)
    assert "'llama3'" in message
    assert "mistral:latest, qwen2.5:0.5b" in message
    assert "ollama pull llama3" in message
    assert "OLLAMA_MODEL" in message
    assert excinfo.value.installed == ["mistral:latest", "qwen2.5:0.5b"]
    assert excinfo.value.partial_text == ""
    assert isinstance(excinfo.value, ExecutionError)


def test_a_missing_model_says_so_when_no_model_is_installed(fake, client):
    fake.models = []

    with pytest.raises(ModelNotFound) as excinfo:
        client.chat_stream("mistral", MESSAGES)

    assert "no models are installed" in raised(excinfo)
    assert "ollama pull mistral" in raised(excinfo)


def test_a_missing_model_says_when_the_model_list_cannot_be_read_either(fake, client):
    fake.tags_status = 500

    with pytest.raises(ModelNotFound) as excinfo:
        client.chat_stream("llama3", MESSAGES)

    message = raised(excinfo)
    assert "could not be read either" in message
    assert "ollama pull llama3" in message
    assert excinfo.value.installed is None


def test_http_500_gives_the_status_and_ollamas_error_text(fake, client):
    fake.behaviour = FailWithStatus(500, "llama runner process has terminated: signal: killed " + "x" * 500)

    with pytest.raises(OllamaHTTPError) as excinfo:
        client.chat_stream("mistral", MESSAGES)

    message = raised(excinfo)
    assert "HTTP 500" in message
    assert "llama runner process has terminated" in message
    assert len(message) < 400  # Ollama's text is shortened
    assert excinfo.value.status == 500


def test_a_404_that_is_not_about_a_model_is_an_http_error_not_a_missing_model(fake):
    with OllamaClient(f"{fake.url}/not-ollama", read_timeout=2.0) as c:
        with pytest.raises(OllamaHTTPError) as excinfo:
            c.chat_stream("mistral", MESSAGES)

    assert excinfo.value.status == 404
    assert "404 page not found" in raised(excinfo)


def test_connection_refused_names_the_url_ollama_serve_and_ollama_host():
    url = f"http://127.0.0.1:{unused_port()}"

    with OllamaClient(url, read_timeout=2.0) as c:
        with pytest.raises(OllamaUnreachable) as chat_error:
            c.chat_stream("mistral", MESSAGES)
        with pytest.raises(OllamaUnreachable) as tags_error:
            c.list_models()

    for excinfo in (chat_error, tags_error):
        message = raised(excinfo)
        assert url in message
        assert "connection refused" in message
        assert "ollama serve" in message
        assert "OLLAMA_HOST" in message
        assert excinfo.value.partial_text == ""


def test_a_stream_cut_mid_answer_raises_stream_interrupted_with_the_partial_text(fake, client):
    fake.behaviour = DropMidStream(after=2, chunks=["Hello", ", ", "world"])
    pieces: list[str] = []

    with pytest.raises(StreamInterrupted) as excinfo:
        client.chat_stream("mistral", MESSAGES, on_text=pieces.append)

    assert excinfo.value.partial_text == "Hello, "
    assert pieces == ["Hello", ", "]
    assert "broke off the answer after 7 characters" in raised(excinfo)


def test_a_stream_that_ends_without_its_done_record_raises_stream_interrupted(fake, client):
    fake.behaviour = EndWithoutDone(after=3, chunks=["Hello", ", ", "world", "!"])

    with pytest.raises(StreamInterrupted) as excinfo:
        client.chat_stream("mistral", MESSAGES)

    assert excinfo.value.partial_text == "Hello, world"
    assert "without its final record" in raised(excinfo)


def test_an_error_record_in_the_stream_raises_stream_interrupted_with_ollamas_text(fake, client):
    fake.behaviour = ErrorInStream(after=1, error="unexpected EOF", chunks=["Hello"])

    with pytest.raises(StreamInterrupted) as excinfo:
        client.chat_stream("mistral", MESSAGES)

    assert excinfo.value.partial_text == "Hello"
    assert "unexpected EOF" in raised(excinfo)


def test_a_server_that_never_answers_times_out_and_names_ollama_timeout(fake, impatient_client):
    fake.behaviour = Hang(after=0)
    started = time.monotonic()

    with pytest.raises(OllamaTimeout) as excinfo:
        impatient_client.chat_stream("mistral", MESSAGES)

    assert time.monotonic() - started < 2.0
    message = raised(excinfo)
    assert "OLLAMA_TIMEOUT=0.5" in message
    assert "did not answer within 0.5 s" in message
    assert excinfo.value.partial_text == ""


def test_a_stream_that_stalls_mid_answer_times_out_and_keeps_the_partial_text(fake, impatient_client):
    fake.behaviour = Hang(after=2, chunks=["Hello", ", ", "world"])

    with pytest.raises(OllamaTimeout) as excinfo:
        impatient_client.chat_stream("mistral", MESSAGES)

    assert excinfo.value.partial_text == "Hello, "
    message = raised(excinfo)
    assert "stopped sending for 0.5 s" in message
    assert "OLLAMA_TIMEOUT" in message


def test_a_line_that_is_not_json_raises_protocol_error_showing_the_line(fake, client):
    fake.behaviour = Malformed(after=1, line="<html>gateway error</html>", chunks=["Hello"])

    with pytest.raises(OllamaProtocolError) as excinfo:
        client.chat_stream("mistral", MESSAGES)

    message = raised(excinfo)
    assert "not a JSON record" in message
    assert "<html>gateway error</html>" in message
    assert excinfo.value.partial_text == "Hello"


def test_a_very_long_malformed_line_is_shortened_in_the_message(fake, client):
    fake.behaviour = Malformed(after=0, line="{" + "z" * 5000)

    with pytest.raises(OllamaProtocolError) as excinfo:
        client.chat_stream("mistral", MESSAGES)

    assert len(raised(excinfo)) < 400


def test_every_failure_is_an_execution_error():
    for cls in (OllamaUnreachable, ModelNotFound, OllamaTimeout, OllamaHTTPError, OllamaProtocolError,
                StreamInterrupted):
        assert issubclass(cls, OllamaError)
        assert issubclass(cls, ExecutionError)


# -- doctor -----------------------------------------------------------------------------


def test_check_is_ok_when_ollama_answers_and_the_model_is_installed(fake, client):
    ok, line = client.check("mistral")  # no tag means :latest

    assert ok is True
    assert line.startswith("OK ")
    assert fake.url in line


def test_check_fails_with_the_pull_command_when_the_model_is_missing(fake, client):
    ok, line = client.check("llama3")

    assert ok is False
    assert line.startswith("FAIL ")
    assert "ollama pull llama3" in line
    assert "mistral:latest" in line
    assert "\n" not in line


def test_check_fails_with_ollama_serve_when_ollama_is_down():
    with OllamaClient(f"http://127.0.0.1:{unused_port()}", read_timeout=2.0) as c:
        ok, line = c.check("mistral")

    assert ok is False
    assert line.startswith("FAIL ")
    assert "ollama serve" in line
    assert "\n" not in line


def test_stopping_the_fake_server_does_not_wait_for_a_hanging_answer():
    server = FakeOllama(behaviour=Hang(after=0, seconds=30)).start()
    with OllamaClient(server.url, read_timeout=0.3) as c:
        with pytest.raises(OllamaTimeout):
            c.chat_stream("mistral", MESSAGES)
    started = time.monotonic()
    server.stop()

    assert time.monotonic() - started < 2.0
