"""What Ollama returns, made storable: every value fits its task_results column.

Ollama (or anything listening on OLLAMA_HOST) may send counts that are negative, huge or
not numbers, and text with lone surrogates or NUL. Any of these used to fail the final
INSERT and leave the task in_progress with no result; here each becomes a value the
column holds (the spec's DDL, /sql/*/0001):

    tokens_input, tokens_output, tokens_total, duration_ms   INT UNSIGNED
    cost_usd                                                 DECIMAL(10,6)
    request, error_message                                   TEXT (65,535 bytes)
    response                                                 LONGTEXT, kept under the packet limit

It also reads what the final record says about the answer's end (``done_reason``), and
checks a call's token bound against the server's (OLLAMA_MAX_TOKENS).

Pure functions over values; the executor calls them on everything before the repository.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from domain.errors import InvalidInput

INT_UNSIGNED_MAX = 4_294_967_295
# tokens_total = tokens_input + tokens_output must fit INT UNSIGNED too, so each half of it.
TOKENS_MAX = INT_UNSIGNED_MAX // 2
COST_MAX = 9_999.999999  # DECIMAL(10,6)
TEXT_MAX_BYTES = 65_535  # TEXT
REPLACEMENT = "\ufffd"

# done_reason values that mean the answer was cut before the model finished: Ollama's
# "length" (num_predict reached, or the context window full), and what proxies in front of
# other backends pass on for the same (llama.cpp "limit", Anthropic "max_tokens" and
# "model_context_window_exceeded", OpenAI "context_length_exceeded").
CUT_REASONS = frozenset({"length", "limit", "max_tokens", "context_length_exceeded", "model_context_window_exceeded"})

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Counts:
    """The counts of Ollama's final record, each None (unknown) or within its column."""

    prompt_eval_count: int | None
    eval_count: int | None
    total_duration_ns: int | None
    done_reason: str | None


def final_counts(record: object) -> Counts:
    """The storable counts of Ollama's final (``done: true``) record, whatever it holds:
    a negative or non-numeric count is unknown (None), a huge one is clamped."""
    record = record if isinstance(record, dict) else {}
    reason = record.get("done_reason")
    return Counts(
        prompt_eval_count=count(record.get("prompt_eval_count"), TOKENS_MAX),
        eval_count=count(record.get("eval_count"), TOKENS_MAX),
        total_duration_ns=count(record.get("total_duration"), 2**63 - 1),
        done_reason=clean_text(reason)[:100] if isinstance(reason, str) else None,
    )


def count(value: object, maximum: int = INT_UNSIGNED_MAX) -> int | None:
    """A non-negative whole number clamped to ``maximum``; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if math.isnan(value) or value < 0:
            return None
        value = maximum if math.isinf(value) else int(value)
    if not isinstance(value, int) or value < 0:
        return None
    return min(value, maximum)


def cost(value: float | None) -> float | None:
    """A cost that fits DECIMAL(10,6): None for NaN or negative, clamped at the top."""
    if value is None or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        return None
    return min(float(value), COST_MAX)


def clean_text(text: str) -> str:
    """The text with what no column can hold replaced by U+FFFD: NUL, and surrogates that
    do not pair (a pair split across two records of the stream is joined again)."""
    if not _UNSTORABLE.search(text):
        return text  # the common case: no copy
    if _SURROGATE.search(text):
        # UTF-16 round trip: valid pairs become one character, lone halves become U+FFFD.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.replace("\x00", REPLACEMENT)


def fit_bytes(text: str, limit: int) -> str:
    """Clean text cut to at most ``limit`` UTF-8 bytes without splitting a character."""
    text = clean_text(text)
    if len(text) * 4 <= limit:
        return text  # cannot be too long: skip encoding a large text
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", "ignore")


def answer_end(done_reason: str | None) -> str:
    """How the answer ended, from the final record's ``done_reason``: "stop" (the model
    finished; also when the server sends no reason, as Ollama before 0.1.33 did), "cut"
    (a token or context bound stopped it), or "other" (any other reason: recorded, and the
    answer not trusted as whole)."""
    if done_reason is None or done_reason.strip().lower() in ("", "stop"):
        return "stop"
    return "cut" if done_reason.strip().lower() in CUT_REASONS else "other"


def token_bound(requested: int | None, setting: int) -> int:
    """The num_predict of one run: the call's ``max_tokens`` if given, else OLLAMA_MAX_TOKENS.
    A call may lower the server's bound, never raise it: a larger value is refused (not
    clamped), so the caller never gets a shorter answer than it asked for without knowing."""
    if requested is None:
        return setting
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise InvalidInput(f"max_tokens={requested!r} is not a positive whole number. Pass 1 to {setting}, or leave it out.")
    if requested > setting:
        raise InvalidInput(
            f"max_tokens={requested} is above this server's bound OLLAMA_MAX_TOKENS={setting}. Pass at most "
            f"{setting} (or leave it out), split the task into smaller subtasks, or ask whoever runs the server "
            f"to raise OLLAMA_MAX_TOKENS."
        )
    return requested
