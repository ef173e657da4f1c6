"""The bounds of a tasks_execute run are settings with defaults and clear refusals."""
from __future__ import annotations

import pytest

from config import bounds, load_config
from domain.errors import InvalidInput
from validators.ollama_output import answer_end, token_bound


def test_defaults_and_overrides():
    default = load_config({})
    assert (default.ollama_max_seconds, default.ollama_max_response_bytes) == (600.0, 8 * 1024 * 1024)
    set_ = load_config({"OLLAMA_MAX_SECONDS": "30", "OLLAMA_MAX_RESPONSE_BYTES": "100000"})
    assert (set_.ollama_max_seconds, set_.ollama_max_response_bytes) == (30.0, 100_000)


@pytest.mark.parametrize(
    "key, value, fragment",
    [("OLLAMA_MAX_SECONDS", "0", "below 1"), ("OLLAMA_MAX_SECONDS", "soon", "not a number"),
     ("OLLAMA_MAX_RESPONSE_BYTES", "100", "below 1024"), ("OLLAMA_MAX_RESPONSE_BYTES", "99999999", "at most 8388608"),
     ("OLLAMA_MAX_TOKENS", "0", "below 1"), ("OLLAMA_MAX_TOKENS", "lots", "not a number"),
     ("OLLAMA_MAX_TOKENS", "2000000", "at most 1048576")],
)
def test_bad_values_are_refused_naming_the_setting(key, value, fragment):
    with pytest.raises(InvalidInput, match=key) as err:
        load_config({key: value})
    assert fragment in str(err.value)


def test_the_token_bound_defaults_to_4096_and_doctor_shows_it():
    assert load_config({}).ollama_max_tokens == 4096
    config = load_config({"OLLAMA_MAX_TOKENS": "16"})
    assert config.ollama_max_tokens == 16 and "OLLAMA_MAX_TOKENS=16 tokens per answer" in bounds(config)


def test_a_call_may_lower_the_token_bound_and_is_refused_above_it():
    assert (token_bound(None, 100), token_bound(100, 100), token_bound(1, 100)) == (100, 100, 1)
    with pytest.raises(InvalidInput, match="max_tokens=101 is above this server's bound OLLAMA_MAX_TOKENS=100"):
        token_bound(101, 100)
    with pytest.raises(InvalidInput, match="not a positive whole number"):
        token_bound(0, 100)


@pytest.mark.parametrize(
    "reason, end",
    [(None, "stop"), ("stop", "stop"), ("", "stop"), ("length", "cut"), ("Length", "cut"), ("limit", "cut"),
     ("max_tokens", "cut"), ("context_length_exceeded", "cut"), ("load", "other"), ("content_filter", "other")],
)
def test_how_an_answer_ended_is_read_from_done_reason(reason, end):
    assert answer_end(reason) == end
