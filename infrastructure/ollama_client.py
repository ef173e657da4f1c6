"""A thin client for Ollama's HTTP API: the installed models and a streamed chat.

This is the only module that imports ``requests`` (and ``urllib3``), and it does so on
first use, so importing it costs nothing at server start-up and nothing connects until
a method is called.

Failures are raised as ``OllamaError`` subclasses (ollama_errors.py), each with the text
received before it as ``partial_text``.

Bounds: every read waits at most OLLAMA_TIMEOUT; one chat takes at most OLLAMA_MAX_SECONDS
in all (a watchdog shuts the socket when it passes, so a dripping or silent server cannot
hold a thread longer); the body is read in 64 KiB pieces, one NDJSON line may be at most
1 MiB, the whole body at most 64 MiB, and the text at most OLLAMA_MAX_RESPONSE_BYTES. Memory
is therefore bounded by the text cap plus one line, whatever the server sends.

Every message goes through ``domain.secrets.scrub``: an OLLAMA_HOST with a password
(``http://user:secret@host``) is shown as ``http://user:***@host``.
"""
from __future__ import annotations

import difflib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from domain.secrets import scrub
from infrastructure.ollama_errors import (
    DeadlineExceeded,
    ModelNotFound,
    OllamaError,
    OllamaHTTPError,
    OllamaProtocolError,
    OllamaTimeout,
    OllamaUnreachable,
    ResponseTooLarge,
    StreamInterrupted,
)
from infrastructure.ollama_stream import TextStream, Watchdog
from validators.ollama_output import final_counts

DEFAULT_HOST = "http://localhost:11434"
_DEFAULT_PORT = 11434
# /api/tags answers from memory; it never needs the long generation timeout.
_TAGS_READ_TIMEOUT = 10.0
_ERROR_TEXT_LIMIT = 200
_LINE_LIMIT = 120
DEFAULT_MAX_SECONDS = 600.0
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # stays under MariaDB's default 16 MiB max_allowed_packet
_READ_SIZE = 64 * 1024
MAX_LINE_BYTES = 1024 * 1024  # one NDJSON record; Ollama's are a few hundred bytes
MAX_STREAM_BYTES = 64 * 1024 * 1024  # the whole body, records and all
_TAGS_MAX_BYTES = 4 * 1024 * 1024
CLOSEST_SHOWN = 5  # installed models a missing-model refusal names


@dataclass(frozen=True)
class ChatOutcome:
    """What one streamed chat produced.

    ``completed`` is True when the ``done: true`` record arrived (the counts come from
    it); ``stopped`` is True when ``should_stop`` asked to end early, in which case the
    counts are None and ``text`` is what arrived before.
    """

    text: str
    prompt_eval_count: int | None
    eval_count: int | None
    total_duration_ns: int | None
    done_reason: str | None
    completed: bool
    stopped: bool


def normalize_host(host: str) -> str:
    """The base URL for ``host`` as OLLAMA_HOST allows it: ``localhost:11434``,
    ``127.0.0.1``, ``http://gpu-box:11434/`` all work."""
    value = (host or "").strip().rstrip("/") or DEFAULT_HOST
    if "://" not in value:
        # Ollama's own CLI accepts a bare host[:port] and defaults the port.
        hostport = value
        if ":" not in hostport.rsplit("]", 1)[-1]:
            hostport = f"{hostport}:{_DEFAULT_PORT}"
        value = f"http://{hostport}"
    return value


def model_installed(model: str, installed: list[str]) -> bool:
    """Whether ``model`` names one of ``installed``; a name without a tag means ``:latest``."""
    if model in installed:
        return True
    return ":" not in model and f"{model}:latest" in installed


def _cut(text: str, limit: int) -> str:
    text = " ".join(str(text).split())  # one line, whatever the server sent
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _seconds(value: float) -> str:
    return f"{value:g}"


class OllamaClient:
    """Talks to one Ollama server. Thread-safe enough to share: one ``requests.Session``
    (its connection pool is thread-safe), created on first use."""

    def __init__(
        self, host: str, read_timeout: float, connect_timeout: float = 3.0, *,
        max_seconds: float = DEFAULT_MAX_SECONDS, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if read_timeout <= 0 or connect_timeout <= 0 or max_seconds <= 0 or max_response_bytes <= 0:
            raise ValueError("timeouts and limits must be positive")
        self.base_url = normalize_host(host)  # may hold credentials: requests sends them as Basic auth
        self.shown_url = scrub(self.base_url)  # what messages show
        self.read_timeout = float(read_timeout)
        self.connect_timeout = float(connect_timeout)
        self.max_seconds = float(max_seconds)
        self.max_response_bytes = int(max_response_bytes)
        self._session: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OllamaClient({self.shown_url!r}, read_timeout={self.read_timeout:g})"

    def __enter__(self) -> "OllamaClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    # -- public API -----------------------------------------------------------------

    def list_models(self) -> list[str]:
        """The names of the installed models (``mistral:latest``, ...), sorted."""
        requests = _requests()
        url = f"{self.base_url}/api/tags"
        wait = min(self.read_timeout, _TAGS_READ_TIMEOUT)
        try:
            response = self._get_session().get(url, timeout=(self.connect_timeout, wait), stream=True)
        except requests.exceptions.RequestException as exc:
            raise self._transport_error(exc, "", read_timeout=wait) from exc
        # The whole answer within the read timeout, and at most 4 MiB: a dripping or endless
        # body must not hold the caller (tasks_execute asks this before it starts).
        with response, Watchdog(response, time.monotonic() + wait) as watchdog:
            if response.status_code != 200:
                raise self._http_error(response, "GET /api/tags", "")
            raw = bytearray()
            try:
                for chunk in response.iter_content(chunk_size=_READ_SIZE):
                    raw += chunk
                    if len(raw) > _TAGS_MAX_BYTES:
                        break
            except requests.exceptions.RequestException as exc:
                if not watchdog.tripped:
                    raise self._transport_error(exc, "", read_timeout=wait) from exc
            if watchdog.tripped:
                raise OllamaTimeout(
                    f"Ollama at {self.shown_url} did not finish its model list (GET /api/tags) within "
                    f"{_seconds(wait)} s. Check that OLLAMA_HOST points at a working Ollama server."
                )
            try:
                if len(raw) > _TAGS_MAX_BYTES:
                    raise ValueError("larger than 4 MiB")
                body = json.loads(bytes(raw))
                names = [entry.get("name") or entry["model"] for entry in body["models"]]
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise OllamaProtocolError(
                    f"Ollama at {self.shown_url} answered GET /api/tags with something that is "
                    f"not its model list: {_cut(bytes(raw[:1000]).decode('utf-8', 'replace'), _LINE_LIMIT)!r}. "
                    f"Check that OLLAMA_HOST points at an Ollama server."
                ) from exc
        return sorted(str(name) for name in names)

    def chat_stream(
        self,
        model: str,
        messages: list[dict],
        *,
        on_text: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        options: dict | None = None,
    ) -> ChatOutcome:
        """Stream one chat answer from ``model``, within the bounds of the module docstring.

        ``on_text`` is called with each piece of text as it arrives; ``should_stop`` (which
        must be thread-safe: a watchdog thread asks it too, so a silent stream stops as well)
        ends the stream early when it returns True (the outcome then has ``stopped=True``).
        A silent stream ends with ``OllamaTimeout`` after ``read_timeout``; any stream ends
        with ``DeadlineExceeded`` after ``max_seconds``, and with ``ResponseTooLarge`` when
        a size bound trips. Each keeps the text received so far in ``partial_text``.
        """
        requests = _requests()
        deadline = time.monotonic() + self.max_seconds
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
        if options:
            body["options"] = options
        first_wait = min(self.read_timeout, self.max_seconds)
        try:
            response = self._get_session().post(
                f"{self.base_url}/api/chat",
                json=body,
                stream=True,
                timeout=(self.connect_timeout, first_wait),
            )
        except requests.exceptions.RequestException as exc:
            if time.monotonic() >= deadline:
                raise self._deadline_error("") from exc
            raise self._transport_error(exc, "") from exc

        stream = TextStream(self.max_response_bytes)
        with response, Watchdog(response, deadline, should_stop) as watchdog:
            if response.status_code == 404:
                error_text = _error_text(response)
                if "model" in error_text.lower():
                    raise self._model_not_found(model, error_text)
                raise self._http_error(response, "POST /api/chat", "", error_text=error_text)
            if response.status_code != 200:
                raise self._http_error(response, "POST /api/chat", "")
            try:
                for line in self._ndjson_lines(response, stream):
                    record = self._decode(line, stream)
                    if "error" in record:
                        text = stream.text()
                        raise StreamInterrupted(
                            f"Ollama at {self.shown_url} stopped the answer with an error after "
                            f"{len(text)} characters: {_cut(record['error'], _ERROR_TEXT_LIMIT)}. "
                            f"Retry; if it repeats, check Ollama's log (the model may have run "
                            f"out of memory).",
                            partial_text=text,
                        )
                    message = record.get("message")
                    piece = message.get("content") if isinstance(message, dict) else None
                    piece = piece if isinstance(piece, str) else ""
                    if piece:
                        kept = stream.add(piece)
                        if kept and on_text is not None:
                            on_text(kept)
                        if stream.full:
                            raise self._too_large(
                                stream.text(),
                                f"the answer passed OLLAMA_MAX_RESPONSE_BYTES={self.max_response_bytes} bytes",
                                "Raise OLLAMA_MAX_RESPONSE_BYTES (at most 8 MiB), or ask for a shorter answer",
                            )
                    if record.get("done"):
                        counts = final_counts(record)
                        return ChatOutcome(
                            text=stream.text(),
                            prompt_eval_count=counts.prompt_eval_count,
                            eval_count=counts.eval_count,
                            total_duration_ns=counts.total_duration_ns,
                            done_reason=counts.done_reason,
                            completed=True,
                            stopped=False,
                        )
                    if should_stop is not None and should_stop():
                        return _stopped(stream.text())
            except requests.exceptions.RequestException as exc:
                if not watchdog.tripped:
                    raise self._transport_error(exc, stream.text(), mid_stream=True) from exc
            if watchdog.tripped == "stop":
                return _stopped(stream.text())
            if watchdog.tripped == "deadline":
                raise self._deadline_error(stream.text())

        text = stream.text()
        raise StreamInterrupted(
            f"Ollama at {self.shown_url} ended the answer after {len(text)} characters "
            f"without its final record. Retry; if it repeats, check Ollama's log (the model "
            f"may have crashed or run out of memory).",
            partial_text=text,
        )

    def _ndjson_lines(self, response: Any, stream: "TextStream") -> Iterator[bytes]:
        """Complete lines as they arrive (a record may span reads), each at most
        MAX_LINE_BYTES, the whole body at most MAX_STREAM_BYTES."""
        buffer = bytearray()
        received = 0
        for chunk in response.iter_content(chunk_size=_READ_SIZE):
            received += len(chunk)
            if received > MAX_STREAM_BYTES:
                raise self._too_large(
                    stream.text(), f"the stream passed {MAX_STREAM_BYTES // (1024 * 1024)} MiB",
                    "This is not how Ollama answers; check OLLAMA_HOST",
                )
            buffer += chunk
            if b"\n" in chunk:
                *lines, rest = buffer.split(b"\n")
                buffer = bytearray(rest)
                for line in lines:
                    if line.strip():
                        yield bytes(line)
            if len(buffer) > MAX_LINE_BYTES:
                raise self._too_large(
                    stream.text(), f"one line of the stream passed {MAX_LINE_BYTES // 1024} KiB",
                    "This is not how Ollama answers; check OLLAMA_HOST",
                )
        if buffer.strip():
            yield bytes(buffer)

    def _too_large(self, text: str, what: str, fix: str) -> ResponseTooLarge:
        return ResponseTooLarge(
            f"Ollama at {self.shown_url}: {what}, so the answer was cut after {len(text)} characters "
            f"and the request stopped. {fix}.",
            partial_text=text,
        )

    def _deadline_error(self, text: str) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"Ollama at {self.shown_url} did not finish the answer within OLLAMA_MAX_SECONDS="
            f"{_seconds(self.max_seconds)} s ({len(text)} characters so far), so the request was "
            f"stopped. Raise OLLAMA_MAX_SECONDS for longer runs, or use a smaller model or a "
            f"shorter task.",
            partial_text=text,
        )

    def check(self, model: str) -> tuple[bool, str]:
        """For ``doctor``: (ok, one line starting with OK or FAIL that names the fix)."""
        try:
            installed = self.list_models()
        except OllamaError as exc:
            return False, f"FAIL ollama: {exc}"
        if not model_installed(model, installed):
            return False, (
                f"FAIL ollama: {self.shown_url} is reachable but model {model!r} is not "
                f"installed ({installed_phrase(model, installed)}). Run `ollama pull {model}` or set "
                f"OLLAMA_MODEL to an installed model."
            )
        return True, (
            f"OK ollama: {self.shown_url} is reachable and model {model!r} is installed "
            f"({len(installed)} model{'s' if len(installed) != 1 else ''} in all)."
        )

    # -- helpers ----------------------------------------------------------------------

    def _get_session(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = _requests().Session()
            return self._session

    def _decode(self, line: bytes, stream: "TextStream") -> dict:
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            text_so_far = stream.text()
            shown = _cut(line.decode("utf-8", "replace"), _LINE_LIMIT)
            raise OllamaProtocolError(
                f"Ollama at {self.shown_url} sent a line that is not a JSON record after "
                f"{len(text_so_far)} characters of answer: {shown!r}. Check that OLLAMA_HOST "
                f"points at an Ollama server; retry, and update Ollama if it repeats.",
                partial_text=text_so_far,
            )
        return record

    def _transport_error(
        self, exc: Exception, partial: str, mid_stream: bool = False, read_timeout: float | None = None
    ) -> OllamaError:
        requests = _requests()
        waited = _seconds(self.read_timeout if read_timeout is None else read_timeout)
        cause = exc.args[0] if exc.args else None
        timed_out = isinstance(exc, requests.exceptions.ReadTimeout) or isinstance(
            cause, _urllib3_read_timeout()
        )
        if timed_out:
            if mid_stream:
                where = (
                    f"stopped sending for {waited} s after {len(partial)} "
                    f"characters of answer"
                )
                why = "The host may be overloaded"
            else:
                where = f"did not answer within {waited} s"
                why = "A large model may still be loading, or the host is busy"
            return OllamaTimeout(
                f"Ollama at {self.shown_url} {where} (OLLAMA_TIMEOUT={_seconds(self.read_timeout)}). "
                f"{why}: raise OLLAMA_TIMEOUT (seconds between two pieces of the answer), or "
                f"use a smaller model.",
                partial_text=partial,
            )
        if mid_stream:
            return StreamInterrupted(
                f"Ollama at {self.shown_url} broke off the answer after {len(partial)} "
                f"characters (the connection closed before the final record). Retry; if it "
                f"repeats, check Ollama's log (the model may have crashed or run out of memory).",
                partial_text=partial,
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            if isinstance(exc, requests.exceptions.ConnectTimeout):
                reason = f"no answer to connect within {_seconds(self.connect_timeout)} s"
            elif "refused" in str(exc).lower():
                reason = "connection refused"
            elif any(s in str(exc) for s in ("Name or service not known", "getaddrinfo", "nodename")):
                reason = "host name not found"
            else:
                reason = _cut(str(exc), 100)
            return OllamaUnreachable(
                f"Cannot reach Ollama at {self.shown_url} ({reason}). Start it with "
                f"`ollama serve` (or `systemctl start ollama`), or set OLLAMA_HOST to the URL "
                f"where it runs.",
                partial_text=partial,
            )
        return OllamaUnreachable(
            f"Cannot talk to Ollama at {self.shown_url}: {_cut(str(exc), 120)}. Check "
            f"OLLAMA_HOST (a URL like http://localhost:11434).",
            partial_text=partial,
        )

    def _http_error(
        self, response: Any, what: str, partial: str, error_text: str | None = None
    ) -> OllamaHTTPError:
        if error_text is None:
            error_text = _error_text(response)
        return OllamaHTTPError(
            f"Ollama at {self.shown_url} answered HTTP {response.status_code} to {what}: "
            f"{_cut(error_text, _ERROR_TEXT_LIMIT) or '(no error text)'}. Check Ollama's log "
            f"for the cause, then retry.",
            status=response.status_code,
            error_text=error_text,
            partial_text=partial,
        )

    def _model_not_found(self, model: str, error_text: str) -> ModelNotFound:
        try:
            installed: list[str] | None = self.list_models()
            listing = installed_phrase(model, installed)
        except OllamaError as exc:
            installed = None
            listing = f"the list of installed models could not be read either: {exc}"
        return ModelNotFound(
            f"Model {model!r} is not installed on Ollama at {self.shown_url} ({listing}). "
            f"Run `ollama pull {model}` on that host, or choose an installed model "
            f"(the `model` argument, or the setting OLLAMA_MODEL).",
            model=model,
            installed=installed,
        )


def installed_phrase(model: str, installed: list[str]) -> str:
    """The installed models a refusal names: all of a short list, else the few closest to
    ``model`` and how many there are (a proxy in front of cloud providers reports dozens)."""
    if not installed:
        return "no models are installed"
    if len(installed) <= CLOSEST_SHOWN:
        return "installed: " + ", ".join(installed)
    return f"{len(installed)} models installed; closest: " + ", ".join(closest_models(model, installed))


def closest_models(model: str, installed: list[str], n: int = CLOSEST_SHOWN) -> list[str]:
    """The ``n`` names most like ``model``: those containing its name (without the tag)
    first, then by similarity of the whole name, then alphabetically."""
    wanted = model.lower()
    base = wanted.split(":", 1)[0]

    def rank(name: str) -> tuple[int, float, str]:
        lowered = name.lower()
        return (0 if base and base in lowered else 1, -difflib.SequenceMatcher(None, wanted, lowered).ratio(), name)

    return sorted(installed, key=rank)[:n]


def _error_text(response: Any) -> str:
    """Ollama's ``{"error": "..."}`` text, or the raw body when it is not that."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return _cut(response.text, _ERROR_TEXT_LIMIT)


def _stopped(text: str) -> ChatOutcome:
    return ChatOutcome(
        text=text, prompt_eval_count=None, eval_count=None, total_duration_ns=None, done_reason=None,
        completed=False, stopped=True,
    )


def _requests() -> Any:
    import requests  # deferred: keeps server start-up free of the import

    return requests


def _urllib3_read_timeout() -> type:
    # requests wraps a read timeout during streaming in a plain ConnectionError.
    from urllib3.exceptions import ReadTimeoutError

    return ReadTimeoutError
