"""Compact tool schemas for ``tools/list``: the same contract in fewer tokens.

Every client loads every tool's schemas into the model's context on every turn, so what
pydantic derives but no model needs is dropped here, once, for every tool:

- titles derived from names ("Flow Id", "pause_flowArguments", ``$defs`` titles);
- ``anyOf [T, null]``: an optional argument is advertised as plain ``T`` outside
  ``required`` (leave it out; the server still accepts an explicit null), and a result
  field as ``T`` (``tool_result`` never sends nulls);
- ``"default": null``; ``additionalProperties: true`` (the JSON Schema default); the id
  ceiling ``maximum: 2**53 - 1`` (no JSON client sends a larger exact integer) and, in input
  schemas, the id floor ``exclusiveMinimum: 0`` that comes with it (an id is positive; a call
  with 0 or a negative id is refused with ``InvalidArgumentsError`` naming the argument and
  "greater than 0", so the model learns it for the price of one call, not ~6 tokens per id
  argument on every turn);
- ``$defs`` used once, written where they are used;
- in input schemas, size caps (``maxLength``, ``maxItems``) and ``minLength: 1``: they guard
  the server rather than guide a call (no model means an empty string), and a call outside
  one is refused with a message naming the argument;
- in output schemas, descriptions and defaults: an output schema keeps the structure
  (names, types, enums, required keys) that clients validate and code-mode hosts type
  against, while what a model needs to know about a result is in the tool's description.

One thing is added: a result field typed ``Any`` (a write's ``changes[].before/after``)
would be ``{}``, which portability linters (the MCP Inspector's ``--strict``) flag as a
schema without any validation keyword; it is written ``{"not": {"const": null}}``, which
says what is true (any value, never null) in a few tokens.

Validation is unchanged: arguments are validated by the tool's pydantic model, results by
the output model, and the compact output schema accepts every result the server returns.
The root title of an output schema (the output model's name) stays.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = [
    "ANY_JSON_VALUE",
    "compact_input_schema",
    "compact_output_schema",
    "without_property_titles",
]

# Ids above 2**53 cannot survive a JavaScript client's JSON parse (see tools/_common.MAX_ID).
_ID_CEILING = 2**53 - 1
_DEFS_PREFIX = "#/$defs/"
_NULL = {"type": "null"}
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not")
# Keywords that constrain a value (the Inspector's list); a node with none accepts anything.
_CONSTRAINING = frozenset(
    "type enum const multipleOf maximum exclusiveMaximum minimum exclusiveMinimum maxLength "
    "minLength pattern format contentMediaType contentEncoding contentSchema maxItems minItems "
    "uniqueItems maxContains minContains maxProperties minProperties required "
    "dependentRequired allOf anyOf oneOf not items prefixItems contains additionalItems "
    "unevaluatedItems properties patternProperties additionalProperties unevaluatedProperties "
    "propertyNames dependentSchemas dependencies $ref $dynamicRef $recursiveRef".split()
)
# Any JSON value but null (results never carry null: tool_result leaves nulls out); the
# cheapest spelling that carries a validation keyword.
ANY_JSON_VALUE: dict[str, Any] = {"not": {"const": None}}


def without_property_titles(schema: Any) -> Any:
    """``schema`` without the titles pydantic derives from property names ("Flow Id").

    They repeat the property name in every schema a client loads into the model's context.
    Titles of whole schemas (the output model, ``$defs`` entries) stay.
    """
    if not isinstance(schema, dict):
        return schema
    compact = dict(schema)
    if isinstance(schema.get("properties"), dict):
        compact["properties"] = {
            name: without_property_titles(
                {k: v for k, v in sub.items() if k != "title"} if isinstance(sub, dict) else sub
            )
            for name, sub in schema["properties"].items()
        }
    for key in _SCHEMA_VALUES:
        if key in schema:
            compact[key] = without_property_titles(schema[key])
    for key in _SCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            compact[key] = [without_property_titles(sub) for sub in schema[key]]
    if isinstance(schema.get("$defs"), dict):
        compact["$defs"] = {n: without_property_titles(d) for n, d in schema["$defs"].items()}
    return compact


def compact_input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's ``inputSchema``, compacted (see the module docstring). Descriptions and
    defaults other than null stay: they tell the model what an argument means and what
    leaving it out does."""
    compact = _compact(_inline_single_use_defs(schema), for_input=True)
    compact.pop("title", None)
    return compact


def compact_output_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A tool's ``outputSchema``, compacted (see the module docstring): the structure only,
    under the output model's name."""
    if schema is None:
        return None
    title = schema.get("title")
    compact = _compact(_inline_single_use_defs(schema), for_input=False)
    return {"title": title, **compact} if title else compact


def _compact(schema: Any, *, for_input: bool) -> Any:
    if not isinstance(schema, dict):
        return schema
    compact: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs") and isinstance(value, dict):
            compact[key] = {
                name: _compact(node, for_input=for_input) for name, node in value.items()
            }
        elif key in _SCHEMA_VALUES:
            compact[key] = _compact(value, for_input=for_input)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            compact[key] = [_compact(node, for_input=for_input) for node in value]
        else:
            compact[key] = value
    compact = _without_null_branch(compact)
    compact.pop("title", None)
    if "default" in compact and (compact["default"] is None or not for_input):
        del compact["default"]
    if compact.get("additionalProperties") is True:
        del compact["additionalProperties"]
    if compact.get("maximum") == _ID_CEILING:
        del compact["maximum"]
        if for_input and compact.get("exclusiveMinimum") == 0:
            del compact["exclusiveMinimum"]
    if for_input:
        compact.pop("maxLength", None)
        compact.pop("maxItems", None)
        if compact.get("minLength") == 1:
            del compact["minLength"]
    else:
        compact.pop("description", None)
        if not _CONSTRAINING.intersection(compact):
            compact = {**compact, **ANY_JSON_VALUE}
    return compact


def _without_null_branch(schema: dict[str, Any]) -> dict[str, Any]:
    """``{anyOf: [T, null], ...}`` -> ``{...T, ...}``; with several other branches, just
    the null branch goes."""
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if not isinstance(branches, list) or _NULL not in branches:
            continue
        rest = [branch for branch in branches if branch != _NULL]
        outer = {k: v for k, v in schema.items() if k != key}
        if len(rest) == 1 and isinstance(rest[0], dict):
            return {**rest[0], **outer}
        return {**outer, key: rest}
    return schema


def _inline_single_use_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with each ``$defs`` entry that is referenced once (and not by itself)
    written where it is used; ``$defs`` keeps only the shared or recursive entries."""
    defs = schema.get("$defs")
    if not isinstance(defs, dict):
        return schema
    uses = Counter(_refs(schema))
    inline = {
        name
        for name, definition in defs.items()
        if uses[name] == 1 and name not in _refs(definition)
    }
    # A definition inlined into another inlined definition is resolved on the way in.
    resolved: dict[str, Any] = {}

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.removeprefix(_DEFS_PREFIX) in inline:
            name = ref.removeprefix(_DEFS_PREFIX)
            if name not in resolved:
                resolved[name] = resolve(defs[name])
            siblings = {k: resolve(v) for k, v in node.items() if k != "$ref"}
            return {**resolved[name], **siblings}
        return {k: resolve(v) for k, v in node.items() if k != "$defs"}

    compact = resolve(schema)
    kept = {name: resolve(d) for name, d in defs.items() if name not in inline}
    if kept:
        compact["$defs"] = kept
    return compact


def _refs(node: Any) -> list[str]:
    """Names of the ``$defs`` entries ``node`` references, once per reference."""
    if isinstance(node, list):
        return [name for item in node for name in _refs(item)]
    if not isinstance(node, dict):
        return []
    names = [name for value in node.values() for name in _refs(value)]
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX):
        names.append(ref.removeprefix(_DEFS_PREFIX))
    return names
