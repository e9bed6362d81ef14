from importlib.metadata import version

import pytest

from nexla_mcp.versions import installed_version


@pytest.mark.parametrize("name", ["nexla-mcp", "mcp", "pydantic", "pydantic-core", "httpx"])
def test_the_version_read_from_the_header_is_the_one_importlib_parses(name: str) -> None:
    assert installed_version(name) == version(name)


def test_a_distribution_that_is_not_installed_has_no_version() -> None:
    assert installed_version("nexla-mcp-not-a-distribution") is None
