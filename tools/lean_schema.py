"""Trim the input schemas that clients hand the model on every turn.

pydantic writes an optional parameter as `{"anyOf": [X, {"type": "null"}], "default": null}`.
For a tool argument, leaving it out already means null, so the lean form is just X: the
model sees the same choices in fewer tokens, and every argument the lean schema allows is
still accepted by the server (the tool validates against its full pydantic model, which
also takes an explicit null). Also dropped: the schema's own title
("tasks_listArguments"), `additionalProperties: true`, which is JSON Schema's default, and
`"type": "string"` beside an enum of strings, which the enum says. And, since issue 26
(core <= 5,000 bytes, the default <= 9,000), the bounds that are no advice to a model: a
maximum of 1,000 or more (the id ceiling 2**63-1, token counts, offsets), a minimum of 0
or 1 on a count or an id (unless a maximum remains: limit keeps 1-500), the lengths of
strings. The tool still enforces every one of them, and its refusal names the bound
(validators/arguments.py), so a model that crosses one learns it from the answer instead
of paying for it on every turn.

Output schemas go on the wire lean as well (`lean_output_schema`): the keys every result
carries, without their types. Why (issue 16, bench/RESULTS.md "Cost of a call"): every
client reads tools/list and most validate each structuredContent against its outputSchema;
the typed schemas were 60% of a 36 KB tools/list (tasks_get's alone 5 KB), and the Python
SDK client spent ~5 ms of CPU checking a page of 50 against TaskPage's. Typed top-level
properties alone would still be 9 KB; the key lists are 2.4 KB and cost microseconds to
check. The typed schemas stay in tools/output_schemas.json (generated from the result
models) for whoever generates code, and the tests check every result against them.
"""
from __future__ import annotations

from typing import Any

from domain.models import ID_MAX

NULL = {"type": "null"}
BIGINT_MAX = ID_MAX
LARGE = 1_000  # a maximum this high is no advice to a model (offsets, token counts, costs, ids); the tool enforces it


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
    if isinstance(prop.get("maximum"), (int, float)) and prop["maximum"] >= LARGE:
        del prop["maximum"]
    if prop.get("minimum") in (0, 1) and "maximum" not in prop and prop.get("type") in ("integer", "number"):
        del prop["minimum"]  # counts and ids: the name says it; a range with a real top (limit 1-500) stays whole
    if prop.get("exclusiveMinimum") == 0:
        del prop["exclusiveMinimum"]
    if prop.get("type") == "string" or "enum" in prop:
        prop.pop("minLength", None)
        prop.pop("maxLength", None)
    if isinstance(prop.get("items"), dict):
        prop["items"] = _lean_property(prop["items"])
    if prop.get("type") == "string" and prop.get("enum") and all(isinstance(v, str) for v in prop["enum"]):
        del prop["type"]
    return prop


def lean_output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The outputSchema a client gets: an object with the keys every result carries."""
    return {"type": "object", "required": list(schema.get("required") or [])}


# Tool annotations without the hints that only repeat the MCP spec's defaults (readOnlyHint
# false, idempotentHint false, destructiveHint true, openWorldHint true) or that the spec
# calls meaningless for a read-only tool (destructiveHint, idempotentHint): a client reads
# an absent hint as its default, so each tool says the same in ~40% fewer bytes.
READ_ONLY = {"readOnlyHint": True, "openWorldHint": False}
WRITES = {"destructiveHint": False, "openWorldHint": False}
DESTROYS = {"destructiveHint": True, "openWorldHint": False}  # true is the default; said anyway, it is the warning
