"""Compact tool schemas for ``tools/list``: the same contract in fewer tokens.

Every client loads every tool's schemas into the model's context on every turn, so what
pydantic derives but no model needs is dropped here, once, for all tools:

- titles derived from names ("Flow Id", "pause_flowArguments", ``$defs`` titles);
- ``anyOf [T, null]`` on optional arguments and on result fields: an optional argument is
  simply left out (the server still accepts an explicit null), and results never carry
  nulls (``tool_result`` omits them);
- ``"default": null``, and every default of a result field (results have no defaults);
- ``additionalProperties: true`` (the JSON Schema default);
- the id ceiling ``maximum: 2**53 - 1`` (no JSON client can send a larger exact integer);
- ``$defs`` used once, inlined where they are used.

Validation is unchanged: arguments are validated by the tool's pydantic model, results by
the output model, and each compact schema accepts exactly the values the server returns.
The root title of an output schema (the model's name) is the model's choice and stays.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["compact_input_schema", "compact_output_schema", "without_property_titles"]

# Ids above 2**53 cannot survive a JavaScript client's JSON parse (see tools/_common.MAX_ID).
_ID_CEILING = 2**53 - 1
_DEFS_PREFIX = "#/$defs/"
_NULL = {"type": "null"}
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not")


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
    """A tool's ``inputSchema``, compacted (see the module docstring); defaults other than
    null stay, since they tell the model what leaving an argument out means."""
    compact = _compact(_inline_single_use_defs(schema), keep_defaults=True, keep_descriptions=True)
    compact.pop("title", None)
    return compact


def compact_output_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A tool's ``outputSchema``, compacted (see the module docstring)."""
    if schema is None:
        return None
    title = schema.get("title")
    compact = _compact(
        _inline_single_use_defs(schema), keep_defaults=False, keep_descriptions=False
    )
    compact.pop("title", None)
    return {"title": title, **compact} if title else compact


def _compact(schema: Any, *, keep_defaults: bool, keep_descriptions: bool) -> Any:
    if not isinstance(schema, dict):
        return schema

    def sub(node: Any) -> Any:
        return _compact(node, keep_defaults=keep_defaults, keep_descriptions=keep_descriptions)

    compact: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs") and isinstance(value, dict):
            compact[key] = {name: sub(node) for name, node in value.items()}
        elif key in _SCHEMA_VALUES:
            compact[key] = sub(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            compact[key] = [sub(node) for node in value]
        else:
            compact[key] = value
    compact = _without_null_branch(compact)
    compact.pop("title", None)
    if not keep_descriptions:
        compact.pop("description", None)
    if "default" in compact and (compact["default"] is None or not keep_defaults):
        del compact["default"]
    if compact.get("additionalProperties") is True:
        del compact["additionalProperties"]
    if compact.get("maximum") == _ID_CEILING:
        del compact["maximum"]
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
