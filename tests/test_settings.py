"""Settings: defaults, environment names, and the combinations that must fail at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nexla_mcp.settings import DEFAULT_API_URL, Settings, is_loopback
from nexla_mcp.tools import TOOLSET_NAMES


def test_sandbox_settings_use_documented_defaults() -> None:
    """With only --sandbox, every option has its documented default."""
    settings = Settings(sandbox=True)
    assert settings.api_url == DEFAULT_API_URL
    assert (settings.transport, settings.host, settings.port) == ("stdio", "127.0.0.1", 8765)
    assert settings.toolsets == TOOLSET_NAMES
    assert settings.write_policy == "confirm"
    assert settings.read_only is False
    assert (settings.allow_flows, settings.deny_flows) == ((), ())
    assert settings.auth_mode == "sandbox"


def test_environment_variables_configure_every_option(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nexla credentials use the SDK's names; server options use NEXLA_MCP_*."""
    env = {
        "NEXLA_SERVICE_KEY": "svc-key-123456",
        "NEXLA_API_URL": "https://acme.nexla.io/nexla-api/",
        "NEXLA_MCP_TRANSPORT": "http",
        "NEXLA_MCP_HOST": "localhost",
        "NEXLA_MCP_PORT": "9000",
        "NEXLA_MCP_TOOLSETS": "logs, flows",
        "NEXLA_MCP_WRITES": "human",
        "NEXLA_MCP_ALLOW_FLOWS": "7,3,7",
        "NEXLA_MCP_DENY_FLOWS": "11",
        "NEXLA_MCP_HTTP_TOKEN": "http-token-abcdef",
        "NEXLA_MCP_HTTP_STATELESS": "true",
        "NEXLA_MCP_TIMEOUT": "12.5",
        "NEXLA_MCP_LOG_LEVEL": "debug",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.service_key is not None
    assert settings.service_key.get_secret_value() == "svc-key-123456"
    assert settings.api_url == "https://acme.nexla.io/nexla-api"
    assert (settings.transport, settings.host, settings.port) == ("http", "localhost", 9000)
    assert settings.toolsets == ("flows", "logs")
    assert settings.write_policy == "human"
    assert (settings.allow_flows, settings.deny_flows) == ((3, 7), (11,))
    assert settings.http_token is not None and settings.http_stateless
    assert (settings.timeout_s, settings.log_level) == (12.5, "DEBUG")
    assert settings.auth_mode == "service_key"


def test_constructor_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI flags arrive as constructor arguments and win over environment variables."""
    monkeypatch.setenv("NEXLA_MCP_PORT", "9000")
    assert Settings(sandbox=True, port=9100).port == 9100


def test_missing_credentials_fail_naming_both_variables_and_sandbox() -> None:
    """Without credentials or --sandbox the error says exactly what to set."""
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = str(caught.value)
    for needed in ("NEXLA_SERVICE_KEY", "NEXLA_ACCESS_TOKEN", "--sandbox"):
        assert needed in message


def test_access_token_alone_is_enough_credentials() -> None:
    """A direct access token is accepted when no service key is set."""
    assert Settings(access_token="tok-abcdef123").auth_mode == "access_token"


def test_service_key_wins_when_both_credentials_are_set() -> None:
    """The service key renews itself, so it is preferred over a fixed access token."""
    assert Settings(service_key="svc-abcdef", access_token="tok-abcdef").auth_mode == "service_key"


def test_unknown_toolset_fails_listing_the_valid_ones() -> None:
    """A typo in --toolsets stops start-up with the list of valid toolsets."""
    with pytest.raises(ValidationError) as caught:
        Settings(sandbox=True, toolsets="flows,flwos")
    message = str(caught.value)
    assert "flwos" in message
    for name in TOOLSET_NAMES:
        assert name in message


def test_read_only_turns_the_write_policy_off() -> None:
    """--read-only wins over any --writes value."""
    settings = Settings(sandbox=True, read_only=True, writes="human")
    assert (settings.read_only, settings.write_policy) == (True, "off")


def test_writes_off_means_read_only() -> None:
    """--writes off and --read-only are the same thing."""
    assert Settings(sandbox=True, writes="off").read_only is True


@pytest.mark.parametrize("writes", ["on", "yes", ""])
def test_unknown_write_policy_is_rejected(writes: str) -> None:
    """Only off, confirm and human are write policies."""
    with pytest.raises(ValidationError):
        Settings(sandbox=True, writes=writes)


@pytest.mark.parametrize("flows", ["0", "-3", "1,abc"])
def test_flow_lists_accept_only_positive_ids(flows: str) -> None:
    """Allow/deny lists reject ids that no flow can have."""
    with pytest.raises(ValidationError):
        Settings(sandbox=True, allow_flows=flows)


def test_http_on_a_public_interface_requires_a_token() -> None:
    """Serving HTTP beyond loopback without a bearer token is refused."""
    with pytest.raises(ValidationError) as caught:
        Settings(sandbox=True, transport="http", host="0.0.0.0")
    assert "NEXLA_MCP_HTTP_TOKEN" in str(caught.value)
    assert Settings(sandbox=True, transport="http", host="0.0.0.0", http_token="t0ken-123456")


def test_http_on_loopback_may_run_without_a_token() -> None:
    """Loopback HTTP without a token is allowed (and warned about when served)."""
    assert Settings(sandbox=True, transport="http", host="127.0.0.1").http_token is None


def test_api_url_must_be_http() -> None:
    """A URL without an http(s) scheme fails instead of producing odd requests later."""
    with pytest.raises(ValidationError):
        Settings(service_key="svc-abcdef", api_url="dataops.nexla.io/nexla-api")


def test_secrets_never_appear_in_repr() -> None:
    """Printing settings (e.g. in a log line) shows no credential."""
    settings = Settings(service_key="svc-very-secret", http_token="http-very-secret")
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in str(settings.model_dump())


def test_unknown_constructor_argument_is_rejected() -> None:
    """A misspelt option in code fails loudly rather than being ignored."""
    with pytest.raises(ValidationError):
        Settings(sandbox=True, read_olny=True)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("127.0.0.2", True), ("0.0.0.0", False), ("10.1.2.3", False), ("mcp.example.com", False)],
)  # fmt: skip
def test_is_loopback_recognises_local_only_addresses(host: str, loopback: bool) -> None:
    """Only addresses that never leave the machine count as loopback."""
    assert is_loopback(host) is loopback


def test_http_without_a_token_is_read_only_unless_writes_are_allowed_without_one() -> None:
    """No bearer token on HTTP means no write tools; an explicit setting restores them."""
    assert Settings(sandbox=True, transport="http").write_policy == "off"
    allowed = Settings(sandbox=True, transport="http", http_writes_without_token=True)
    assert allowed.write_policy == "confirm"
    assert Settings(sandbox=True, transport="http", http_token="t0ken-123456").writes == "confirm"
    assert Settings(sandbox=True).write_policy == "confirm"  # stdio is unaffected
