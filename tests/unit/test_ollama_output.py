"""Whatever Ollama's final record and text hold, what reaches task_results fits its column."""
from __future__ import annotations

import math

import pytest

from validators.ollama_output import (
    COST_MAX,
    INT_UNSIGNED_MAX,
    TOKENS_MAX,
    Counts,
    clean_text,
    cost,
    count,
    final_counts,
    fit_bytes,
)


@pytest.mark.parametrize(
    "value, expected",
    [
        (0, 0), (26, 26), (TOKENS_MAX, TOKENS_MAX), (TOKENS_MAX + 1, TOKENS_MAX), (10**30, TOKENS_MAX),
        (-1, None), (-(10**30), None), (True, None), ("12", None), (None, None), ([3], None),
        (12.0, 12), (12.7, 12), (-0.5, None), (math.inf, TOKENS_MAX), (-math.inf, None), (math.nan, None),
    ],
)
def test_a_token_count_is_whole_non_negative_and_fits_half_an_int_unsigned(value, expected):
    assert count(value, TOKENS_MAX) == expected


def test_two_clamped_counts_still_sum_within_tokens_total():
    counts = final_counts({"prompt_eval_count": 10**40, "eval_count": 2**63})
    assert counts.prompt_eval_count + counts.eval_count <= INT_UNSIGNED_MAX


def test_final_counts_of_odd_records():
    assert final_counts({"prompt_eval_count": -5, "eval_count": 10**20, "total_duration": -3, "done_reason": "st\x00op"}) == Counts(
        prompt_eval_count=None, eval_count=TOKENS_MAX, total_duration_ns=None, done_reason="st\ufffdop"
    )
    assert final_counts(None) == Counts(None, None, None, None)
    assert final_counts({"done_reason": 5}).done_reason is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("plain", "plain"),
        ("a\ud800b", "a\ufffdb"),  # a lone high surrogate
        ("\udfff", "\ufffd"),  # a lone low surrogate
        ("\ud83d\ude00", "\U0001F600"),  # a pair split across two records, joined again
        ("nul\x00here", "nul\ufffdhere"),
        ("\ude00\ud83d", "\ufffd\ufffd"),  # the halves in the wrong order
    ],
)
def test_clean_text_leaves_only_what_utf8_columns_hold(text, expected):
    cleaned = clean_text(text)
    assert cleaned == expected
    cleaned.encode("utf-8")  # strict: raises on anything left over


def test_fit_bytes_cuts_on_a_character_boundary_after_cleaning():
    assert fit_bytes("é" * 10, 5) == "éé"
    assert fit_bytes("\ud800" * 10, 9) == "\ufffd" * 3
    assert fit_bytes("short", 65_535) == "short"


@pytest.mark.parametrize("value, expected", [(0.5, 0.5), (1e9, COST_MAX), (-1.0, None), (math.nan, None), (None, None)])
def test_cost_fits_decimal_10_6(value, expected):
    assert cost(value) == expected
