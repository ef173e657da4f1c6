"""The server's log formatter: every line, traceback included, leaves through scrub()."""
from __future__ import annotations

import io
import logging

from domain import secrets
from server import ScrubbingFormatter

SECRET = "db-pass-7c1e9b2f4a"


def _logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(ScrubbingFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


def test_a_registered_secret_and_a_url_password_are_masked_in_the_message_and_the_traceback():
    secrets.register(SECRET)
    logger, out = _logger("test.scrub")
    try:
        raise RuntimeError(f"login failed with {SECRET} at mysql://app:{SECRET}x@db/ki")
    except RuntimeError:
        logger.exception("could not connect using %s", SECRET)
    text = out.getvalue()
    assert SECRET not in text and "could not connect using ***" in text
    assert "Traceback" in text and "mysql://app:***@db/ki" in text


def test_the_access_log_drops_the_query_string():
    logger, out = _logger("uvicorn.access")
    logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "POST", "/mcp?api_key=not-registered-key-123", "1.1", 401)
    assert out.getvalue().strip() == 'INFO uvicorn.access: 127.0.0.1:5 - "POST /mcp?<query not logged> HTTP/1.1" 401'


def test_a_short_secret_is_masked_only_as_a_whole_word():
    secrets.register("hunter2")  # a database password too short to mask inside other words
    text = secrets.scrub("import hunter2s; print(hunter2s.x) failed for password hunter2, user app")
    assert text == "import hunter2s; print(hunter2s.x) failed for password ***, user app"
    # A long one (every API key is at least 16 characters) is masked wherever it stands.
    secrets.register("k3y-7c1e9b2f4a6d8e0f")
    assert secrets.scrub("Bearer k3y-7c1e9b2f4a6d8e0fXYZ") == "Bearer ***XYZ"
