"""The prompt tasks_execute sends, the cost of a run and the price table setting."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain.errors import InvalidInput
from validators.execution_prompt import build_messages, cost_usd, parse_price_table, prompt_text

DOC = Path(__file__).resolve().parents[2] / "docs" / "execution-prompt.md"


# -- build_messages ---------------------------------------------------------------------


def test_a_task_with_only_a_title_becomes_one_user_message_with_the_title():
    messages = build_messages({"id": 7, "title": "Say hello"}, None, None)

    assert messages == [{"role": "user", "content": "# Task: Say hello"}]


def test_parent_description_and_metadata_follow_the_title_in_the_documented_order():
    task = {
        "title": "Summarise the release notes",
        "description": "Write a short summary.",
        "metadata": {"max_words": 100, "language": "en"},
    }

    (message,) = build_messages(task, "Release 2.4", None)

    assert message["content"] == (
        "# Task: Summarise the release notes\n"
        "Part of: Release 2.4\n"
        "\n"
        "## Description\n"
        "Write a short summary.\n"
        "\n"
        "## Metadata\n"
        '{"language":"en","max_words":100}'
    )


def test_metadata_stored_as_json_text_is_sent_as_compact_json_with_sorted_keys():
    task = {"title": "T", "metadata": '{ "b": [1, 2],\n  "a": "ü" }'}

    content = build_messages(task, None, None)[0]["content"]

    assert content.endswith('## Metadata\n{"a":"ü","b":[1,2]}')


def test_empty_metadata_and_a_blank_description_are_left_out():
    for metadata in (None, "", "{}", {}, "null", []):
        content = build_messages({"title": "T", "description": "  \n", "metadata": metadata}, None, None)[0][
            "content"
        ]
        assert content == "# Task: T", metadata


def test_metadata_that_is_not_json_is_sent_as_written():
    content = build_messages({"title": "T", "metadata": "priority: high"}, None, None)[0]["content"]

    assert content.endswith("## Metadata\npriority: high")


def test_surrounding_whitespace_is_trimmed_and_inner_text_kept():
    task = {"title": "  Fix   it \n", "description": "\n line one\n\n line two  \n"}

    content = build_messages(task, "  Parent ", None)[0]["content"]

    assert content == "# Task: Fix   it\nPart of: Parent\n\n## Description\nline one\n\n line two"


def test_a_configured_system_prompt_comes_first_and_a_blank_one_is_ignored():
    with_system = build_messages({"title": "T"}, None, "You are terse.")
    blank = build_messages({"title": "T"}, None, "   ")

    assert with_system == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "# Task: T"},
    ]
    assert blank == [{"role": "user", "content": "# Task: T"}]


def test_the_stored_request_is_the_user_text_or_both_messages_headed_by_role():
    assert prompt_text(build_messages({"title": "T"}, None, None)) == "# Task: T"
    assert prompt_text(build_messages({"title": "T"}, None, "Be terse.")) == "[system]\nBe terse.\n\n[user]\n# Task: T"


def test_the_example_in_the_docs_is_what_build_messages_produces():
    text = DOC.read_text(encoding="utf-8")
    example = text.split("Example, for task", 1)[1]
    block = re.search(r"```\n(.*?)\n```", example, re.S).group(1)

    task = {
        "title": "Summarise the release notes",
        "description": "Write a short summary of docs/CHANGES.md for the newsletter.",
        "metadata": {"max_words": 100, "language": "en"},
    }
    assert build_messages(task, "Release 2.4", None)[0]["content"] == block


# -- cost_usd ---------------------------------------------------------------------------

PRICES = {"gpt-4o": (2.5, 10.0), "mistral": (0.0, 0.0), "big": (3.0, 15.0)}


def test_cost_is_input_and_output_tokens_times_their_price_per_million():
    assert cost_usd("gpt-4o", 1_000_000, 100_000, PRICES) == pytest.approx(3.5)
    assert cost_usd("big", 1234, 567, PRICES) == pytest.approx(0.012207)


def test_a_model_missing_from_the_table_costs_nothing():
    assert cost_usd("llama3", 5000, 5000, PRICES) == 0.0
    assert cost_usd("anything", 5000, 5000, {}) == 0.0


def test_a_tagged_model_falls_back_to_the_price_of_its_base_name():
    assert cost_usd("big:latest", 1_000_000, 0, PRICES) == pytest.approx(3.0)
    assert cost_usd("big:latest", 1_000_000, 0, {**PRICES, "big:latest": (1.0, 1.0)}) == pytest.approx(1.0)


def test_unknown_token_counts_count_as_zero():
    assert cost_usd("gpt-4o", None, 1_000_000, PRICES) == pytest.approx(10.0)
    assert cost_usd("gpt-4o", None, None, PRICES) == 0.0


def test_cost_is_rounded_to_the_six_places_of_the_cost_column():
    assert cost_usd("big", 1, 0, PRICES) == 0.000003
    assert cost_usd("gpt-4o", 1, 0, PRICES) == 0.000003  # 0.0000025 rounds half up, like DECIMAL
    assert cost_usd("gpt-4o", 3, 0, PRICES) == 0.000008  # 0.0000075


# -- parse_price_table ----------------------------------------------------------------


def test_a_price_table_maps_each_model_to_its_input_and_output_price():
    table = parse_price_table(" gpt-4o = 2.5 / 10 , mistral=0/0,claude-3.5-sonnet:latest=3/15,")

    assert table == {"gpt-4o": (2.5, 10.0), "mistral": (0.0, 0.0), "claude-3.5-sonnet:latest": (3.0, 15.0)}


def test_an_empty_price_table_is_empty():
    assert parse_price_table("") == {}
    assert parse_price_table("  ") == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gpt-4o", "is not model=input/output"),
        ("=1/2", "is not model=input/output"),
        ("gpt-4o=2.5", "has no '/'"),
        ("gpt-4o=cheap/10", "'cheap'"),
        ("gpt-4o=2.5/", "which is not a number"),
        ("gpt-4o=-1/10", "'-1'"),
        ("gpt-4o=nan/10", "'nan'"),
        ("gpt-4o=1/inf", "'inf'"),
        ("a=1/1,a=2/2", "priced twice"),
    ],
)
def test_a_malformed_price_table_is_refused_with_the_entry_and_an_example(text, expected):
    with pytest.raises(InvalidInput) as excinfo:
        parse_price_table(text)

    assert expected in str(excinfo.value)


def test_a_price_table_error_names_the_setting_when_given():
    with pytest.raises(InvalidInput) as excinfo:
        parse_price_table("gpt-4o=2.5", setting="MODEL_PRICES")

    message = str(excinfo.value)
    assert message.startswith("MODEL_PRICES: entry 'gpt-4o=2.5'")
    assert "gpt-4o=2.5/10,mistral=0/0" in message
