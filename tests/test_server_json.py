"""server.json says about each variable what Settings does with it (required, default, secret,
type, choices), and its install hint runs the command pyproject installs."""

from __future__ import annotations

import json
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices, SecretStr, ValidationError
from pydantic.fields import FieldInfo

from nexla_mcp.settings import Settings

ROOT = Path(__file__).parent.parent
SERVER_JSON = json.loads((ROOT / "server.json").read_text())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
(PACKAGE,) = SERVER_JSON["packages"]
VARIABLES = {variable["name"]: variable for variable in PACKAGE["environmentVariables"]}

# The ways a server can be configured to start: each needs only one of these.
WORKING_SETUPS: list[dict[str, str]] = [
    {"NEXLA_MCP_SANDBOX": "true"},
    {"NEXLA_SERVICE_KEY": "nxsk_example_key"},
    {"NEXLA_ACCESS_TOKEN": "example-access-token"},
]


def _field(variable: str) -> tuple[str, FieldInfo]:
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices) and variable in alias.choices:
            return name, field
    raise AssertionError(f"{variable} is not a setting")


def _starts(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> bool:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    try:
        Settings()
    except ValidationError:
        return False
    finally:
        for name in environment:
            monkeypatch.delenv(name)
    return True


@pytest.mark.parametrize("variable", sorted(VARIABLES))
def test_is_required_says_whether_a_server_can_start_without_the_variable(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable is required only if no working setup leaves it out (none is: a service key,
    an access token or the sandbox each suffice)."""
    can_do_without = any(
        variable not in setup and _starts(setup, monkeypatch) for setup in WORKING_SETUPS
    )
    assert VARIABLES[variable].get("isRequired", False) is (not can_do_without)


def _as_manifest_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Path):
        return str(value).replace(str(Path.home()), "~", 1)
    return str(value)


@pytest.mark.parametrize("variable", sorted(VARIABLES))
def test_default_secret_format_and_choices_follow_the_setting(variable: str) -> None:
    """Defaults are the setting's own, secrets are SecretStr, formats and choices its type."""
    entry = VARIABLES[variable]
    name, field = _field(variable)
    annotation = Settings.model_fields[name].annotation
    inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)] or [annotation]
    # A tuple setting (flow ids, hosts) is written as comma-separated text.
    base = str if typing.get_origin(annotation) is tuple else inner[0]
    if "default" in entry:
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        assert entry["default"] == _as_manifest_text(default)
    assert entry.get("isSecret", False) is (base is SecretStr), variable
    expected_format = {bool: "boolean", int: "number", float: "number", Path: "filepath"}.get(
        base, "string"
    )
    assert entry.get("format", "string") == expected_format, variable
    if base is bool:
        assert entry.get("choices") == ["true", "false"]
    elif typing.get_origin(base) is typing.Literal:
        assert entry.get("choices") == list(typing.get_args(base))


def test_each_variable_is_listed_once() -> None:
    """Two entries for one variable would let them disagree."""
    names = [variable["name"] for variable in PACKAGE["environmentVariables"]]
    assert len(names) == len(set(names))


def test_the_install_hint_runs_the_command_pyproject_installs() -> None:
    """`uvx nexla-mcp` runs the console script of the same name, over stdio by default."""
    assert PACKAGE["runtimeHint"] == "uvx"
    assert PACKAGE["identifier"] == PYPROJECT["name"]
    assert PYPROJECT["scripts"][PACKAGE["identifier"]] == "nexla_mcp.cli:main"
    assert PACKAGE["transport"] == {"type": "stdio"}
    assert Settings.model_fields["transport"].default == "stdio"
    assert SERVER_JSON["version"] == PACKAGE["version"] == PYPROJECT["version"]


def test_the_license_file_is_the_one_the_metadata_names() -> None:
    """pyproject says Apache-2.0; LICENSE is that license's text."""
    assert PYPROJECT["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_every_setting_is_listed() -> None:
    """A registry client offers what server.json lists: a setting left out (as the stateless
    HTTP switch once was) could only be found in the README."""
    settings = {
        str(field.validation_alias.choices[0])
        for field in Settings.model_fields.values()
        if isinstance(field.validation_alias, AliasChoices)
    }
    assert sorted(settings - set(VARIABLES)) == []
