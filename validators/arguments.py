"""Normalisation of tool arguments that JSON Schema alone cannot check: dates, metadata,
search terms. Pure functions; each refusal names the parameter, the value and the fix.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from domain.errors import InvalidInput, shorten

METADATA_MAX_BYTES = 64 * 1024
SEARCH_MAX_WORDS = 8


def parse_due_date(value: str | None, name: str = "due_date") -> datetime | None:
    """ISO 8601 date or date-time; an aware time is stored as UTC. '' or None clears it."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise InvalidInput(
            f"{name}={shorten(value)} is not an ISO 8601 date. Use e.g. '2026-12-31' or '2026-12-31T17:00:00Z'."
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    if not 1000 <= parsed.year <= 9999:
        raise InvalidInput(f"{name}={shorten(value)} is out of range. Use a year between 1000 and 9999.")
    return parsed.replace(microsecond=0)  # DATETIME without fractions in the shared schema


def parse_metadata(value: Any, name: str = "metadata") -> dict | None:
    """A JSON object, given as an object or as a string holding one."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidInput(f"{name}={shorten(value)} is not valid JSON. Give a JSON object, e.g. {{\"priority\": \"high\"}}.") from None
    if not isinstance(value, dict):
        raise InvalidInput(
            f"{name} must be a JSON object, got {type(value).__name__} {shorten(value)}. "
            "Wrap the value in an object, e.g. {\"tags\": [...]}."
        )
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except ValueError as exc:  # NaN/Infinity, or a lone surrogate (UnicodeEncodeError) that JSON cannot store
        raise InvalidInput(
            f"{name} holds a value JSON cannot store ({shorten(str(exc), 60)}). Use plain numbers and text."
        ) from None
    if size > METADATA_MAX_BYTES:
        raise InvalidInput(f"{name} is {size} bytes of JSON; at most {METADATA_MAX_BYTES} are allowed.")
    return value


_WORD = re.compile(r"\S+")


def search_words(term: str) -> list[str]:
    """The words of a search: each must occur in the title or description, literally."""
    words = _WORD.findall(term)
    if not words:
        raise InvalidInput("search is empty or only spaces. Give a word to search for, or leave search out.")
    if len(words) > SEARCH_MAX_WORDS:
        raise InvalidInput(f"search has {len(words)} words; at most {SEARCH_MAX_WORDS} are allowed. Use fewer, rarer words.")
    return words


def require_some_change(fields: dict[str, Any], names: str) -> None:
    if not fields:
        raise InvalidInput(f"Nothing to change: give at least one of {names}.")
