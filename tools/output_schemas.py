"""Each tool's outputSchema, from the model in its `Annotated[CallToolResult, Model]` return.

What goes on the wire is `lean_output_schema()` of the model's JSON schema (the keys every
result carries; tools/lean_schema.py says why); the whole typed schema is what the file
below stores, for readers and code generators, and what the tests check results against.

The tools register with structured_output=False and `publish()` sets their schemas
instead. The SDK would build the same schema once per tool at every start and check every
result against it a second time, although respond() already builds each result from the
model itself; a schema set this way is advertised and the result left alone.

The schemas are read from output_schemas.json beside this file: pydantic needs ~20 ms to
build the 13 result models' schemas, about 3% of a cold start (bench/RESULTS.md), and the
file reads in under a millisecond. After changing a result model, rewrite the file:

    .venv/bin/python docs/output_schemas.py

tests/e2e/test_docs.py fails while the file and the models differ. A model the file does
not know yet (a new tool before the rewrite) gets its schema built at start.
"""
from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tools.common import strip_titles
from tools.lean_schema import lean_output_schema

SCHEMA_FILE = Path(__file__).with_name("output_schemas.json")


def result_model(tool: Any) -> type[BaseModel]:
    # The return annotation as written, when it is already an object (no `from __future__
    # import annotations`): get_type_hints would evaluate every parameter's annotation too.
    returned = getattr(tool.fn, "__annotations__", {}).get("return")
    if returned is None or isinstance(returned, str):
        returned = typing.get_type_hints(tool.fn, include_extras=True).get("return")
    for meta in getattr(returned, "__metadata__", ()):
        if isinstance(meta, type) and issubclass(meta, BaseModel):
            return meta
    raise TypeError(f"tool {tool.name} must return Annotated[CallToolResult, SomeModel]")


def build_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    strip_titles(schema)
    return schema


def full_schemas() -> dict[str, dict[str, Any]]:
    """The stored typed schemas, by model name."""
    return json.loads(SCHEMA_FILE.read_text()) if SCHEMA_FILE.is_file() else {}


def publish(tools: list[Any]) -> None:
    stored = full_schemas()
    for tool in tools:
        model = result_model(tool)
        if model.__name__ not in stored:
            stored[model.__name__] = build_schema(model)
        tool.fn_metadata.output_schema = lean_output_schema(stored[model.__name__])


def generate(tools: list[Any]) -> str:
    """The file's text for these tools, built from the models (what the file must hold)."""
    schemas: dict[str, dict[str, Any]] = {}
    models: dict[str, type[BaseModel]] = {}
    for tool in tools:
        model = result_model(tool)
        if models.setdefault(model.__name__, model) is not model:
            raise TypeError(f"two result models are named {model.__name__}; the file keys them by name")
        if model.__name__ not in schemas:
            schemas[model.__name__] = build_schema(model)
    return json.dumps(dict(sorted(schemas.items())), indent=1, sort_keys=True) + "\n"
