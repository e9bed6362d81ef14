"""Packaging: the public surface, the version, and the registry manifest agree with pyproject."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import jsonschema
from pydantic import AliasChoices

import nexla_mcp
from nexla_mcp.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SERVER_JSON = json.loads((ROOT / "server.json").read_text())
README = (ROOT / "README.md").read_text()
SCHEMA = json.loads((ROOT / "tests/server/server-json-schema-2025-12-11.json").read_text())


def env_names() -> set[str]:
    """Every environment variable Settings reads."""
    names = set()
    for field in Settings.model_fields.values():
        assert isinstance(field.validation_alias, AliasChoices)
        names.update(str(choice) for choice in field.validation_alias.choices)
    return names


def test_all_is_sorted() -> None:
    """__all__ stays sorted so additions are easy to review."""
    assert nexla_mcp.__all__ == sorted(nexla_mcp.__all__)


def test_all_is_complete_and_every_name_resolves() -> None:
    """Every public name of the package is in __all__ and imports from where it is defined."""
    public = {
        name
        for name in dir(nexla_mcp)
        if not name.startswith("_") and not inspect.ismodule(getattr(nexla_mcp, name))
    }
    assert public == set(nexla_mcp.__all__)
    for name in nexla_mcp.__all__:
        value = getattr(nexla_mcp, name)
        assert getattr(importlib.import_module(value.__module__), name) is value


def test_version_comes_from_the_installed_metadata() -> None:
    """__version__ is the distribution's version, which is pyproject's."""
    assert nexla_mcp.__version__ == version("nexla-mcp") == PYPROJECT["version"]


def test_importing_the_package_does_not_load_the_mcp_sdk() -> None:
    """The CLI starts fast: `import nexla_mcp` costs no SDK import (checked in a fresh process)."""
    import subprocess
    import sys

    code = "import sys, nexla_mcp, nexla_mcp.cli; print('mcp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_server_json_matches_the_registry_schema() -> None:
    """server.json validates against the 2025-12-11 registry schema (draft-07, formats on)."""
    jsonschema.Draft7Validator(
        SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    ).validate(SERVER_JSON)


def test_server_json_agrees_with_pyproject() -> None:
    """Package identifier and both versions follow pyproject, run over stdio."""
    (package,) = SERVER_JSON["packages"]
    assert package["identifier"] == PYPROJECT["name"]
    assert SERVER_JSON["version"] == package["version"] == PYPROJECT["version"]
    assert package["transport"] == {"type": "stdio"}
    assert PYPROJECT["scripts"][PYPROJECT["name"]] == "nexla_mcp.cli:main"


def test_readme_mcp_name_marker_matches_server_json() -> None:
    """The registry verifies PyPI ownership through this marker in the long description."""
    assert PYPROJECT["readme"] == "README.md"
    markers = re.findall(r"mcp-name:\s*(\S+)\s", README)
    assert markers == [SERVER_JSON["name"]]


def test_manifest_and_readme_name_only_real_settings() -> None:
    """Every variable server.json or the README table mentions is one Settings reads."""
    (package,) = SERVER_JSON["packages"]
    manifest = {variable["name"] for variable in package["environmentVariables"]}
    documented = set(re.findall(r"^\| `(NEXLA_[A-Z_]+)`", README, flags=re.MULTILINE))
    assert manifest <= env_names()
    assert documented == env_names()


def test_readme_names_every_toolset_and_every_tool() -> None:
    """The configuration table lists each toolset and the README mentions each default tool."""
    from nexla_mcp.server.app import build_server
    from nexla_mcp.tools import TOOLSET_NAMES

    (row,) = re.findall(r"^\| `NEXLA_MCP_TOOLSETS` .*$", README, flags=re.MULTILINE)
    assert set(re.findall(r"`([a-z]+)`", row)) >= set(TOOLSET_NAMES)
    tools = build_server(Settings(sandbox=True, profile="all")).toolset_of
    assert tools, "the default server registers tools"
    assert [name for name in tools if f"`{name}`" not in README] == []
