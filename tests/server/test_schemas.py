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
    """anyOf [T, null] and default null go; the description, range and real defaults stay."""
    schema = compact_input_schema(Arguments.model_json_schema())
    assert schema == {
        "type": "object",
        "properties": {
            "flow_id": {"type": "integer", "exclusiveMinimum": 0, "description": "Flow id."},
            "status": {"type": "string", "enum": ["ACTIVE", "PAUSED"], "description": "Status."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25,
                      "description": "Rows."},
        },
    }  # fmt: skip


def test_compact_input_schema_accepts_omission_and_refuses_what_the_model_refuses() -> None:
    """Leaving an argument out validates; wrong types, ranges and enum values do not."""
    schema = compact_input_schema(Arguments.model_json_schema())
    jsonschema.validate({}, schema)
    jsonschema.validate({"flow_id": 7, "status": "PAUSED", "limit": 100}, schema)
    for bad in ({"flow_id": 0}, {"flow_id": "7"}, {"status": "GONE"}, {"limit": 101}):
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
    works, and a wrong value or one over an unadvertised size cap is still refused."""
    async with Client(server, mode=mode) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "list_flows")
        status = tool.input_schema["properties"]["status"]
        assert "anyOf" not in status and status["type"] == "string"
        assert "status" not in tool.input_schema.get("required", [])
        assert "maxLength" not in tool.input_schema["properties"]["name_contains"]
        omitted = await call_ok(client, "list_flows", {"limit": 2})
        explicit_null = await call_ok(client, "list_flows", {"limit": 2, "status": None})
        refused = [
            await call_error(client, "list_flows", arguments)
            for arguments in ({"status": "RUNNING"}, {"limit": 0}, {"name_contains": "x" * 101})
        ]
    assert omitted == explicit_null
    assert [error["type"] for error in refused] == ["InvalidArgumentsError"] * 3
