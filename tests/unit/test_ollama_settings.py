"""The bounds of a tasks_execute run are settings with defaults and clear refusals."""
from __future__ import annotations

import pytest

from config import load_config
from domain.errors import InvalidInput


def test_defaults_and_overrides():
    default = load_config({})
    assert (default.ollama_max_seconds, default.ollama_max_response_bytes) == (600.0, 8 * 1024 * 1024)
    set_ = load_config({"OLLAMA_MAX_SECONDS": "30", "OLLAMA_MAX_RESPONSE_BYTES": "100000"})
    assert (set_.ollama_max_seconds, set_.ollama_max_response_bytes) == (30.0, 100_000)


@pytest.mark.parametrize(
    "key, value, fragment",
    [("OLLAMA_MAX_SECONDS", "0", "below 1"), ("OLLAMA_MAX_SECONDS", "soon", "not a number"),
     ("OLLAMA_MAX_RESPONSE_BYTES", "100", "below 1024"), ("OLLAMA_MAX_RESPONSE_BYTES", "99999999", "at most 8388608")],
)
def test_bad_values_are_refused_naming_the_setting(key, value, fragment):
    with pytest.raises(InvalidInput, match=key) as err:
        load_config({key: value})
    assert fragment in str(err.value)
