"""Normalisation of tool arguments that JSON Schema alone cannot check: dates, metadata,
search terms, cursors; and the one text for arguments the schema refuses (unknown names,
wrong types, out-of-range values), in our words rather than the validator's.
Pure functions; each refusal names the parameter, the value and the fix.
"""
from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone
from typing import Any, Iterable

from domain.errors import InvalidInput, shorten
from domain.models import ID_MAX

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
        try:
            parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:  # 9999-12-31T23:00-05:00 is in year 10000 in UTC; 0001-01-01T00:00+01:00 in year 0
            parsed = datetime.min
    if not 1000 <= parsed.year <= 9999:
        raise InvalidInput(
            f"{name}={shorten(value)} is out of range. Use a date from 1000-01-01 to 9999-12-31 (in UTC, after its offset)."
        )
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


def check_cursor(cursor: str | None, name: str = "cursor") -> str | None:
    """Refuse a cursor whose task id no column can hold, before it reaches SQL (SQLite binds
    a Python int past 2**63 with a bare OverflowError). Its form is tasks_list's:
    base64url of "<created_at>|<id>"; anything else is left for the repository to refuse."""
    if not cursor:
        return cursor
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        task_id = int(text.rpartition("|")[2])
    except (ValueError, UnicodeDecodeError):
        return cursor
    if not 0 <= task_id <= ID_MAX:
        raise InvalidInput(
            f"{name}={shorten(cursor, 40)} holds task id {shorten(task_id, 30)}, outside 0..{ID_MAX}: it is not a cursor "
            "from tasks_list. Pass next_cursor unchanged, or leave it out."
        )
    return cursor


# ---- arguments the input schema refuses ----------------------------------------------------

MAX_LISTED_ERRORS = 4


def argument_errors_text(tool: str, errors: Iterable[dict[str, Any]], properties: dict[str, dict[str, Any]]) -> str:
    """One refusal for a call whose arguments fail the tool's input schema.

    errors: the validator's error records (type, loc, input, ctx), e.g. pydantic's
    ``ValidationError.errors()``; properties: the tool's full input-schema properties.
    Unknown names come first: a misspelt filter is the mistake most worth hearing about.
    """
    errors = list(errors)
    unknown = [str(e["loc"][0]) for e in errors if e.get("type") == "extra_forbidden" and e.get("loc")]
    parts = [_unknown_text(tool, name, properties) for name in unknown]
    seen = set(unknown)
    for error in errors:
        loc = error.get("loc") or ("arguments",)
        name = str(loc[0])
        if name in seen:
            continue
        seen.add(name)
        prop = properties.get(name, {})
        if error.get("type") == "missing":
            parts.append(f"{tool} needs {name}, which takes {_allowed(prop)}.")
        else:
            parts.append(f"{name}={_given(error.get('input'))} is not accepted by {tool}: {name} takes {_allowed(prop)}.")
    if len(parts) > MAX_LISTED_ERRORS:
        parts = parts[:MAX_LISTED_ERRORS] + [f"({len(parts) - MAX_LISTED_ERRORS} more)"]
    return " ".join(parts) + " Nothing was read or changed; fix the arguments and call again."


def _unknown_text(tool: str, name: str, properties: dict[str, Any]) -> str:
    import difflib  # only a refused call needs it; not every start-up

    allowed = list(properties)
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else "."
    listing = ", ".join(allowed) if allowed else "none (call it with {})"
    return f"unknown argument {shorten(name, 40)} for {tool}{hint} Allowed: {listing}."


def _given(value: Any) -> str:
    """The caller's value as JSON (true, "5", 5.0), as they wrote it, cut short."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return shorten(value, 60)
    return text if len(text) <= 60 else text[:57] + "..."


_JSON_TYPES = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false (JSON, without quotes)",
    "object": "a JSON object",
    "array": "a JSON array",
}


def _allowed(prop: dict[str, Any]) -> str:
    """What a schema property accepts, in words: type, choices, range, length."""
    options = prop.get("anyOf")
    if isinstance(options, list):
        kept = [o for o in options if o != {"type": "null"}]
        if len(kept) == 1:
            return _allowed({**kept[0], **{k: v for k, v in prop.items() if k != "anyOf"}}) + ", or leave it out"
    if "enum" in prop or "const" in prop:
        values = prop.get("enum") or [prop.get("const")]
        return "one of " + ", ".join(json.dumps(v) for v in values)
    kind = prop.get("type")
    text = _JSON_TYPES.get(kind, "a value of the documented type") if isinstance(kind, str) else "a value of the documented type"
    if "minimum" in prop and "maximum" in prop:
        text += f" from {prop['minimum']} to {prop['maximum']}"
    else:
        bounds = [f"{word} {prop[key]}" for key, word in (
            ("minimum", "at least"), ("exclusiveMinimum", "more than"), ("maximum", "at most"), ("exclusiveMaximum", "less than"),
        ) if key in prop]
        if bounds:
            text += ", " + " and ".join(bounds)
    if kind == "string" and ("minLength" in prop or "maxLength" in prop):
        text += f" of {prop.get('minLength', 0)} to {prop['maxLength']} characters" if "maxLength" in prop else f" of at least {prop['minLength']} characters"
    if kind == "integer":
        text += " (a JSON number: no quotes, no fraction)"
    return text
