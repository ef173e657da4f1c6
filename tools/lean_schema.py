"""Trim the input schemas that clients hand the model on every turn.

pydantic writes an optional parameter as `{"anyOf": [X, {"type": "null"}], "default": null}`.
For a tool argument, leaving it out already means null, so the lean form is just X: the
model sees the same choices in fewer tokens, and every argument the lean schema allows is
still accepted by the server (the tool validates against its full pydantic model, which
also takes an explicit null). Also dropped: the schema's own title
("tasks_listArguments"), `additionalProperties: true`, which is JSON Schema's default, and
the id ceiling 2**63-1 (BIGINT), which no model comes near (also on list items); the tool
still enforces it; and `"type": "string"` beside an enum of strings, which the enum says.
Output schemas are left whole: clients validate structuredContent against them.
"""
from __future__ import annotations

from typing import Any

from domain.models import ID_MAX

NULL = {"type": "null"}
BIGINT_MAX = ID_MAX


def lean_input_schema(schema: dict[str, Any]) -> None:
    """Rewrite a tool's input schema in place."""
    schema.pop("title", None)
    for name, prop in list((schema.get("properties") or {}).items()):
        schema["properties"][name] = _lean_property(prop)


def _lean_property(prop: dict[str, Any]) -> dict[str, Any]:
    options = prop.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and NULL in options:
        (kept,) = [o for o in options if o != NULL]
        rest = {k: v for k, v in prop.items() if k != "anyOf"}
        prop = {**kept, **rest}
    if "default" in prop and prop["default"] is None:
        del prop["default"]
    if prop.get("additionalProperties") is True:
        del prop["additionalProperties"]
    if prop.get("maximum") == BIGINT_MAX:
        del prop["maximum"]
    if isinstance(prop.get("items"), dict):
        prop["items"] = _lean_property(prop["items"])
    if prop.get("type") == "string" and prop.get("enum") and all(isinstance(v, str) for v in prop["enum"]):
        del prop["type"]
    return prop
