"""What can go wrong talking to Ollama, as exceptions (raised by ollama_client.py).

Failures are raised as ``OllamaError`` subclasses. Each carries ``partial_text``: the
answer received before the failure ('' if none), so the caller can store a ``partial``
result instead of losing the text. Messages name the URL, the cause and the fix.

    ExecutionError                (domain.errors)
    └── OllamaError               anything that went wrong talking to Ollama
        ├── OllamaUnreachable     no connection: not running, wrong OLLAMA_HOST
        ├── ModelNotFound         the model is not installed (404); lists what is
        ├── OllamaTimeout         no byte within OLLAMA_TIMEOUT seconds
        │   └── DeadlineExceeded  the whole answer took longer than OLLAMA_MAX_SECONDS
        ├── ResponseTooLarge      the answer passed OLLAMA_MAX_RESPONSE_BYTES, or the
        │                         stream its byte or line bound; the text up to the cut is kept
        ├── OllamaHTTPError       any other non-200 answer (500, 400, ...)
        ├── OllamaProtocolError   a body that is not Ollama's JSON / NDJSON
        └── StreamInterrupted     the answer stopped before its ``done: true`` record
"""
from __future__ import annotations

from domain.errors import ExecutionError
from domain.secrets import scrub


class OllamaError(ExecutionError):
    """Base of the client's errors; ``partial_text`` is the answer received so far."""

    def __init__(self, message: str, *, partial_text: str = "") -> None:
        super().__init__(scrub(message))
        self.partial_text = partial_text


class OllamaUnreachable(OllamaError):
    pass


class ModelNotFound(OllamaError):
    def __init__(self, message: str, *, model: str, installed: list[str] | None) -> None:
        super().__init__(message)
        self.model = model
        # None when the list could not be read either.
        self.installed = installed


class OllamaTimeout(OllamaError):
    pass


class OllamaHTTPError(OllamaError):
    def __init__(self, message: str, *, status: int, error_text: str, partial_text: str = "") -> None:
        super().__init__(message, partial_text=partial_text)
        self.status = status
        self.error_text = error_text


class OllamaProtocolError(OllamaError):
    pass


class StreamInterrupted(OllamaError):
    pass


class DeadlineExceeded(OllamaTimeout):
    pass


class ResponseTooLarge(OllamaError):
    pass
