"""What ``tasks_execute`` sends to the model, and what the answer cost.

Pure functions over values; the format is documented in docs/execution-prompt.md, so
keep the two in step.
"""
from __future__ import annotations

import json
import math
from decimal import ROUND_HALF_UP, Decimal

from domain.errors import InvalidInput, shorten

_PRICE_EXAMPLE = "gpt-4o=2.5/10,mistral=0/0"
_MICRO = Decimal("0.000001")


def build_messages(task: dict, parent_title: str | None, system_prompt: str | None) -> list[dict]:
    """The chat messages for ``task`` (a row with ``title``, ``description``, ``metadata``).

    An optional system message, then one user message:

        # Task: <title>
        Part of: <parent title>          (only for a subtask)

        ## Description
        <description>                    (only when there is one)

        ## Metadata
        <metadata as compact JSON>       (only when it is not empty)
    """
    title = _text(task.get("title")) or "(untitled)"
    lines = [f"# Task: {title}"]
    parent = _text(parent_title)
    if parent:
        lines.append(f"Part of: {parent}")

    description = _text(task.get("description"))
    if description:
        lines += ["", "## Description", description]

    metadata = _metadata_json(task.get("metadata"))
    if metadata:
        lines += ["", "## Metadata", metadata]

    messages: list[dict] = []
    system = _text(system_prompt)
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": "\n".join(lines)})
    return messages


def prompt_text(messages: list[dict]) -> str:
    """The messages as one text, for the ``request`` column of ``task_results``."""
    if len(messages) == 1:
        return str(messages[0]["content"])
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


def cost_usd(
    model: str,
    tokens_input: int | None,
    tokens_output: int | None,
    prices: dict[str, tuple[float, float]],
) -> float:
    """The cost of one run in USD; ``prices`` maps a model to (input, output) USD per 1M
    tokens. A model not in the table (a local one) costs 0. ``mistral:latest`` falls back
    to the price of ``mistral``. Rounded half up to the 6 places of ``task_results.cost_usd``."""
    price = prices.get(model)
    if price is None and ":" in model:
        price = prices.get(model.split(":", 1)[0])
    if price is None:
        return 0.0
    per_input, per_output = price
    # Decimal, so half a micro-dollar rounds up the way the DECIMAL(10,6) column does.
    total = (
        (tokens_input or 0) * Decimal(str(per_input)) + (tokens_output or 0) * Decimal(str(per_output))
    ) / 1_000_000
    return float(total.quantize(_MICRO, rounding=ROUND_HALF_UP))


def parse_price_table(text: str, *, setting: str | None = None) -> dict[str, tuple[float, float]]:
    """Parse ``model=input/output,...`` (USD per 1M tokens), e.g. ``gpt-4o=2.5/10,mistral=0/0``.

    Empty text is an empty table. ``setting`` names the configuration variable in errors.
    """
    where = f"{setting}: " if setting else "Price table: "
    table: dict[str, tuple[float, float]] = {}
    for raw_entry in (text or "").split(","):
        entry = raw_entry.strip()
        if not entry:
            continue
        name, sep, pair = entry.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidInput(
                f"{where}entry {shorten(entry)} is not model=input/output. Write USD per 1M "
                f"tokens for each model, separated by commas, e.g. {_PRICE_EXAMPLE}."
            )
        input_text, slash, output_text = pair.partition("/")
        if not slash:
            raise InvalidInput(
                f"{where}entry {shorten(entry)} has no '/' between the input and output price. "
                f"Write {name}=<input>/<output> in USD per 1M tokens, e.g. {_PRICE_EXAMPLE}."
            )
        per_input = _price(input_text, entry, where)
        per_output = _price(output_text, entry, where)
        if name in table:
            raise InvalidInput(f"{where}model {shorten(name)} is priced twice. Keep one entry for it.")
        table[name] = (per_input, per_output)
    return table


def _price(value: str, entry: str, where: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise InvalidInput(
            f"{where}entry {shorten(entry)} has price {shorten(value.strip())}, which is not a "
            f"number of USD (0 or more) per 1M tokens. Example: {_PRICE_EXAMPLE}."
        )
    return number


def _text(value: object) -> str:
    return str(value).strip() if value is not None else ""


def _metadata_json(value: object) -> str:
    """Compact JSON of the task's metadata; '' when there is none. The column holds JSON
    text, but a row may also arrive already decoded."""
    if value is None:
        return ""
    if isinstance(value, (str, bytes)):
        text = value.decode() if isinstance(value, bytes) else value
        if not text.strip():
            return ""
        try:
            value = json.loads(text)
        except ValueError:
            return text.strip()  # not JSON after all: pass it on as written
    if value in ({}, [], None, ""):
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)
