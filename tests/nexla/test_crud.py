"""Tests for nexla_mcp.nexla.crud: the requests every resource collection shares."""

from __future__ import annotations

import pytest

from nexla_mcp.errors import ValidationError
from nexla_mcp.nexla import NexlaClient

pytestmark = pytest.mark.anyio

HEALTHY_SINK = 7101


async def test_generic_get_and_list_resources_use_the_collection_model(client: NexlaClient) -> None:
    """get_resource/list_resources pick the model from the collection name."""
    sink = await client.get_resource("data_sinks", HEALTHY_SINK)
    assert type(sink).__name__ == "Destination"
    page = await client.list_resources("data_credentials", credentials_type="s3")
    assert page.items and all(c.credentials_type == "s3" for c in page.items)
    with pytest.raises(ValidationError):
        await client.get_resource("flows", 1)  # type: ignore[arg-type]  # the point


async def test_empty_create_body_is_rejected_before_sending(client: NexlaClient) -> None:
    """An empty body is a local ValidationError."""
    with pytest.raises(ValidationError):
        await client.create_source({})
