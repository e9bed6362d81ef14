"""Compact tool schemas: fewer tokens, the same values accepted and refused."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import jsonschema
import pytest
from mcp import Client
from pydantic import BaseModel, Field

from nexla_mcp.server.app import NexlaMCPServer
from nexla_mcp.server.schemas import compact_input_schema, compact_output_schema
from nexla_mcp.server.testing import MODES, call_error, call_ok

pytestmark = pytest.mark.anyio

MAX_ID = 2**53 - 1


class Arguments(BaseModel):
    flow_id: Annotated[int | None, Field(gt=0, le=MAX_ID, description="Flow id.")] = None
    status: Annotated[Literal["ACTIVE", "PAUSED"] | None, Field(description="Status.")] = None
    limit: Annotated[int, Field(ge=1, le=100, description="Rows.")] = 25


class Node(BaseModel):
    """A node: its docstring is code documentation."""

    name: str = Field(description="Name")
    children: list[Node] = Field(default_factory=list)


class Part(BaseModel):
    """One part."""

    size: int


class Result(BaseModel):
    """The result."""

    total: int | None = Field(None, description="How many")
    part: Part | None = None
    parts: list[Part] = Field(default_factory=list)
    tree: Node | None = None
    extra: dict[str, Any] | None = None


def test_optional_arguments_are_plain_typed_properties_outside_required() -> None:
    """anyOf [T, null] and default null go, and so does an id's range (positive, at most
    2**53 - 1); the description, other ranges and real defaults stay."""
    schema = compact_input_schema(Arguments.model_json_schema())
    assert schema == {
        "type": "object",
        "properties": {
            "flow_id": {"type": "integer", "description": "Flow id."},
            "status": {"type": "string", "enum": ["ACTIVE", "PAUSED"], "description": "Status."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25,
                      "description": "Rows."},
        },
    }  # fmt: skip


def test_compact_input_schema_accepts_omission_and_refuses_what_the_model_refuses() -> None:
    """Leaving an argument out validates; wrong types, ranges and enum values do not (an id
    of 0 is the server's to refuse: see the test below)."""
    schema = compact_input_schema(Arguments.model_json_schema())
    jsonschema.validate({}, schema)
    jsonschema.validate({"flow_id": 7, "status": "PAUSED", "limit": 100}, schema)
    for bad in ({"flow_id": "7"}, {"flow_id": 1.5}, {"status": "GONE"}, {"limit": 101}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_output_schema_inlines_single_use_defs_and_keeps_shared_and_recursive_ones() -> None:
    """Part is used twice and Node refers to itself: both stay in $defs; titles and
    descriptions go except the root title."""
    schema = compact_output_schema(Result.model_json_schema())
    assert schema is not None
    assert schema["title"] == "Result"
    assert set(schema["$defs"]) == {"Part", "Node"}
    assert schema["properties"]["part"] == {"$ref": "#/$defs/Part"}
    assert schema["properties"]["total"] == {"type": "integer"}
    assert schema["properties"]["extra"] == {"type": "object"}
    assert "description" not in repr(schema) and "'title'" not in repr(schema["properties"])


def test_output_schema_inlines_a_definition_used_once() -> None:
    """A model referenced from one place is written there, without its name or docstring."""

    class Wrapper(BaseModel):
        only: Part

    schema = compact_output_schema(Wrapper.model_json_schema())
    assert schema == {
        "title": "Wrapper",
        "type": "object",
        "properties": {
            "only": {"type": "object", "properties": {"size": {"type": "integer"}},
                     "required": ["size"]},
        },
        "required": ["only"],
    }  # fmt: skip


def test_compact_output_schema_still_validates_the_results_the_model_dumps() -> None:
    """A full result, dumped without nulls as tool_result does, fits the compact schema."""
    schema = compact_output_schema(Result.model_json_schema())
    assert schema is not None
    full = Result(total=3, part=Part(size=1), parts=[Part(size=2)],
                  tree=Node(name="a", children=[Node(name="b")]), extra={"k": None})  # fmt: skip
    jsonschema.validate(full.model_dump(mode="json", exclude_none=True), schema)
    jsonschema.validate(Result().model_dump(mode="json", exclude_none=True), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"parts": [{"size": "big"}]}, schema)


def test_a_property_named_like_a_keyword_is_kept() -> None:
    """Only schema keywords are dropped: properties called title, description or default stay."""

    class Named(BaseModel):
        title: str
        description: str | None = None
        default: int = 0

    schema = compact_output_schema(Named.model_json_schema())
    assert schema is not None
    assert set(schema["properties"]) == {"title", "description", "default"}
    assert schema["properties"]["description"] == {"type": "string"}


@pytest.mark.parametrize("mode", MODES)
async def test_arguments_advertised_compactly_are_still_validated_in_both_eras(
    server: NexlaMCPServer, mode: Any
) -> None:
    """An optional argument shows as plain T outside required; omitting it or sending null
    works, and a wrong value or one outside an unadvertised size cap (over maxLength, an
    empty string) is still refused."""
    async with Client(server, mode=mode) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "list_flows")
        status = tool.input_schema["properties"]["status"]
        assert "anyOf" not in status and status["type"] == "string"
        assert "status" not in tool.input_schema.get("required", [])
        assert tool.input_schema["properties"]["name_contains"] == {
            "type": "string", "description": "Part of the name, any case"
        }  # fmt: skip
        omitted = await call_ok(client, "list_flows", {"limit": 2})
        explicit_null = await call_ok(client, "list_flows", {"limit": 2, "status": None})
        refused = [
            await call_error(client, "list_flows", arguments)
            for arguments in (
                {"status": "RUNNING"}, {"limit": 0}, {"name_contains": "x" * 101},
                {"name_contains": ""}, {"cursor": ""},
            )
        ]  # fmt: skip
    assert omitted == explicit_null
    assert [error["type"] for error in refused] == ["InvalidArgumentsError"] * 5
    assert "name_contains: String should have at least 1 character" in refused[3]["message"]
    assert "cursor" in refused[4]["message"]


@pytest.mark.parametrize("mode", MODES)
async def test_a_zero_or_negative_id_is_refused_with_a_message_naming_the_argument(
    server: NexlaMCPServer, mode: Any
) -> None:
    """Ids are advertised as plain integers (no exclusiveMinimum); the server still refuses
    0 and negative ids, saying which argument and what it must be, before calling Nexla."""
    async with Client(server, mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["get_flow"].input_schema["properties"]["flow_id"] == {
            "type": "integer", "description": "Flow id, from list_flows"
        }  # fmt: skip
        ids = [
            (tool.name, name, schema)
            for tool in tools.values()
            for name, schema in tool.input_schema["properties"].items()
            if name.endswith("_id")
        ]
        assert len(ids) > 20
        assert not [found for found in ids if "exclusiveMinimum" in found[2]]
        calls = [
            ("get_flow", {"flow_id": 0}, "flow_id"),
            ("get_flow_logs", {"flow_id": 9001, "run_id": -4}, "run_id"),
            ("probe_credential", {"credential_id": 0}, "credential_id"),
            ("get_run_metrics", {"resource_type": "data_sources", "resource_id": -1},
             "resource_id"),
        ]  # fmt: skip
        for name, arguments, argument in calls:
            error = await call_error(client, name, arguments)
            assert error["type"] == "InvalidArgumentsError", (name, error)
            assert f"{argument}: Input should be greater than 0" in error["message"], error
            assert error["details"]["errors"][0]["argument"] == argument


# --- portability: the MCP Inspector's `--strict` schema lint (inspector 2.12.0, core/json/
# schemaLint.ts), ported rule for rule: a bare boolean schema is an error; a `type` array, a
# remote `$ref` and a schema with no validation keyword are warnings. ---------------------

_BOOLEAN_VALUED = {"additionalProperties", "unevaluatedProperties", "additionalItems",
                   "unevaluatedItems"}  # fmt: skip
_SUBSCHEMA = ["items", "contains", "not", "propertyNames", "if", "then", "else",
              "additionalProperties", "unevaluatedProperties", "additionalItems",
              "unevaluatedItems", "contentSchema"]  # fmt: skip
_SUBSCHEMA_LISTS = ["allOf", "anyOf", "oneOf", "prefixItems"]
_SUBSCHEMA_MAPS = ["properties", "patternProperties", "dependentSchemas", "dependencies",
                   "$defs", "definitions"]  # fmt: skip
_CONSTRAINING = set(
    "type enum const multipleOf maximum exclusiveMaximum minimum exclusiveMinimum maxLength "
    "minLength pattern format contentMediaType contentEncoding contentSchema maxItems minItems "
    "uniqueItems maxContains minContains maxProperties minProperties required "
    "dependentRequired allOf anyOf oneOf not items prefixItems contains additionalItems "
    "unevaluatedItems properties patternProperties additionalProperties unevaluatedProperties "
    "propertyNames dependentSchemas dependencies $ref $dynamicRef $recursiveRef".split()
)


def portability_findings(schema: Any, path: str = "", keyword: str | None = None) -> list[str]:
    """What the Inspector's --strict reports for ``schema``, as "rule at path" strings."""
    if isinstance(schema, bool):
        return [] if keyword in _BOOLEAN_VALUED else [f"boolean-schema at {path}"]
    if not isinstance(schema, dict):
        return []
    found = []
    if isinstance(schema.get("type"), list):
        found.append(f"type-union at {path}")
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref and not ref.startswith("#"):
        found.append(f"remote-ref at {path}")
    constrains = bool(_CONSTRAINING.intersection(schema)) or (
        "if" in schema and ("then" in schema or "else" in schema)
    )
    if not constrains and keyword != "not":
        found.append(f"untyped-schema at {path}")
    for key in _SUBSCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            for name, sub in schema[key].items():
                found += portability_findings(sub, f"{path}.{key}.{name}", key)
    for key in _SUBSCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            for index, sub in enumerate(schema[key]):
                found += portability_findings(sub, f"{path}.{key}[{index}]", key)
    for key in _SUBSCHEMA:
        if key in schema:
            value = schema[key]
            subs = value if key == "items" and isinstance(value, list) else [value]
            for sub in subs:
                found += portability_findings(sub, f"{path}.{key}", key)
    return found


def test_the_ported_lint_flags_what_the_inspector_flags() -> None:
    """Negative control: the four rules fire on the shapes the Inspector reports."""
    schema = {"type": "object", "properties": {"a": {}, "b": {"type": ["string", "null"]},
              "c": {"$ref": "https://x/s.json"}, "d": True}}  # fmt: skip
    assert portability_findings(schema) == [
        "untyped-schema at .properties.a",
        "type-union at .properties.b",
        "remote-ref at .properties.c",
        "boolean-schema at .properties.d",
    ]
    assert portability_findings({"not": {}}) == []


def test_an_any_typed_result_field_gets_a_validation_keyword() -> None:
    """A field typed Any compacts to 'any value but null', which accepts what results carry."""

    class Changed(BaseModel):
        before: Any = None

    schema = compact_output_schema(Changed.model_json_schema())
    assert schema is not None
    assert schema["properties"]["before"] == {"not": {"const": None}}
    for value in ("PAUSED", ["admin"], 3, {"a": None}):
        jsonschema.validate({"before": value}, schema)
    assert portability_findings(schema) == []


@pytest.mark.parametrize("mode", MODES)
async def test_every_tool_schema_passes_the_inspectors_strict_portability_lint(
    mode: str,
) -> None:
    """Every input and output schema of the full server (write tools included) lints clean."""
    from nexla_mcp.server.app import build_server
    from nexla_mcp.settings import Settings

    async with Client(build_server(Settings(sandbox=True, profile="all")), mode=mode) as client:
        tools = (await client.list_tools()).tools
    assert {"pause_flow", "grant_access", "update_resource"} <= {tool.name for tool in tools}
    findings = {
        f"{tool.name} {kind}: {finding}"
        for tool in tools
        for kind, schema in (("input", tool.input_schema), ("output", tool.output_schema))
        for finding in portability_findings(schema or {"type": "object"})
    }
    assert findings == set()
