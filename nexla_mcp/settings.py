"""Configuration: one pydantic-settings model, built once in ``cli.py`` and passed down.

Nexla credentials keep the names the official SDK reads (``NEXLA_SERVICE_KEY``,
``NEXLA_ACCESS_TOKEN``, ``NEXLA_API_URL``); options of this server are ``NEXLA_MCP_*`` and are
mirrored by command line flags. Tests build ``Settings(...)`` directly with field names.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from nexla_mcp.state import default_state_dir
from nexla_mcp.tools.profiles import ProfileName

__all__ = [
    "DEFAULT_API_URL",
    "LOOPBACK_HOSTS",
    "SANDBOX_API_URL",
    "Settings",
    "WritePolicy",
    "is_loopback",
    "sandbox_run_dir",
]

DEFAULT_API_URL = "https://dataops.nexla.io/nexla-api"
# Where the in-process sandbox answers; the name never resolves, requests never leave the process.
SANDBOX_API_URL = "http://sandbox.nexla.invalid"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

WritePolicy = Literal["off", "confirm", "human", "shadow"]
Transport = Literal["stdio", "http"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    if host.strip("[]").lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_process_secret: str | None = None


def _secret_for_this_process() -> SecretStr:
    """A random plan-token secret, the same for every Settings built in this process."""
    global _process_secret
    if _process_secret is None:
        _process_secret = secrets.token_urlsafe(32)
    return SecretStr(_process_secret)


_sandbox_run_dir: Path | None = None


def sandbox_run_dir() -> Path:
    """Where a sandbox run keeps its audit log and state: one directory per process under the
    system's temporary directory (created by whoever writes first), never the live location."""
    global _sandbox_run_dir
    if _sandbox_run_dir is None:
        name = f"nexla-mcp-sandbox-{os.getpid()}-{secrets.token_hex(4)}"
        _sandbox_run_dir = Path(tempfile.gettempdir()) / name
    return _sandbox_run_dir


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything the server needs to start; invalid combinations fail at construction."""

    model_config = SettingsConfigDict(
        populate_by_name=True,  # tests and cli.py pass field names; the environment uses aliases
        extra="forbid",
        env_ignore_empty=True,
    )

    service_key: SecretStr | None = Field(None, validation_alias=AliasChoices("NEXLA_SERVICE_KEY"))
    access_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("NEXLA_ACCESS_TOKEN")
    )
    api_url: str = Field(DEFAULT_API_URL, validation_alias=AliasChoices("NEXLA_API_URL"))

    sandbox: bool = Field(False, validation_alias=AliasChoices("NEXLA_MCP_SANDBOX"))
    transport: Transport = Field("stdio", validation_alias=AliasChoices("NEXLA_MCP_TRANSPORT"))
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("NEXLA_MCP_HOST"))
    port: int = Field(8765, ge=0, le=65535, validation_alias=AliasChoices("NEXLA_MCP_PORT"))
    http_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("NEXLA_MCP_HTTP_TOKEN")
    )
    # The handshake era's sessions live in one process's memory; stateless, any replica can
    # answer any request (and that era loses server-to-client requests: no elicitation).
    http_stateless: bool = Field(False, validation_alias=AliasChoices("NEXLA_MCP_HTTP_STATELESS"))
    oauth_issuer: str | None = Field(None, validation_alias=AliasChoices("NEXLA_MCP_OAUTH_ISSUER"))
    oauth_audience: str | None = Field(
        None, validation_alias=AliasChoices("NEXLA_MCP_OAUTH_AUDIENCE")
    )
    oauth_jwks_url: str | None = Field(
        None, validation_alias=AliasChoices("NEXLA_MCP_OAUTH_JWKS_URL")
    )
    oauth_read_scope: str = Field(
        "nexla:read", min_length=1, validation_alias=AliasChoices("NEXLA_MCP_OAUTH_READ_SCOPE")
    )
    oauth_write_scope: str = Field(
        "nexla:write", min_length=1, validation_alias=AliasChoices("NEXLA_MCP_OAUTH_WRITE_SCOPE")
    )
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=AliasChoices("NEXLA_MCP_ALLOWED_HOSTS")
    )
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=AliasChoices("NEXLA_MCP_ALLOWED_ORIGINS")
    )

    toolsets: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=AliasChoices("NEXLA_MCP_TOOLSETS")
    )
    # None until validated: then the named profile, or "all" when only toolsets were named
    # (so --toolsets keeps meaning "every tool of these toolsets"), else "default".
    profile: ProfileName | None = Field(None, validation_alias=AliasChoices("NEXLA_MCP_PROFILE"))
    tools: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=AliasChoices("NEXLA_MCP_TOOLS")
    )
    exclude_tools: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=AliasChoices("NEXLA_MCP_EXCLUDE_TOOLS")
    )
    dynamic_toolsets: bool = Field(
        False, validation_alias=AliasChoices("NEXLA_MCP_DYNAMIC_TOOLSETS")
    )
    read_only: bool = Field(False, validation_alias=AliasChoices("NEXLA_MCP_READ_ONLY"))
    writes: WritePolicy = Field("confirm", validation_alias=AliasChoices("NEXLA_MCP_WRITES"))
    allow_token_only_destructive: bool = Field(
        False, validation_alias=AliasChoices("NEXLA_MCP_ALLOW_TOKEN_ONLY_DESTRUCTIVE")
    )
    http_writes_without_token: bool = Field(
        False, validation_alias=AliasChoices("NEXLA_MCP_HTTP_WRITES_WITHOUT_TOKEN")
    )
    allow_flows: Annotated[tuple[int, ...], NoDecode] = Field(
        (), validation_alias=AliasChoices("NEXLA_MCP_ALLOW_FLOWS")
    )
    deny_flows: Annotated[tuple[int, ...], NoDecode] = Field(
        (), validation_alias=AliasChoices("NEXLA_MCP_DENY_FLOWS")
    )

    secret: SecretStr = Field(
        default_factory=_secret_for_this_process,
        validation_alias=AliasChoices("NEXLA_MCP_SECRET"),
    )
    audit_path: Path | None = Field(None, validation_alias=AliasChoices("NEXLA_MCP_AUDIT_LOG"))
    state_dir: Path = Field(
        default_factory=default_state_dir,
        validation_alias=AliasChoices("NEXLA_MCP_STATE_DIR"),
    )
    state_url: SecretStr | None = Field(None, validation_alias=AliasChoices("NEXLA_MCP_STATE_URL"))
    write_rate_limit: int = Field(
        10, ge=1, le=10_000, validation_alias=AliasChoices("NEXLA_MCP_WRITE_RATE_LIMIT")
    )
    write_rate_limit_per_user: int | None = Field(
        None, ge=1, le=10_000, validation_alias=AliasChoices("NEXLA_MCP_WRITE_RATE_LIMIT_PER_USER")
    )
    write_rate_window_s: float = Field(
        600.0, gt=0, le=86_400, validation_alias=AliasChoices("NEXLA_MCP_WRITE_RATE_WINDOW")
    )

    new_credentials_file: Path | None = Field(
        None, validation_alias=AliasChoices("NEXLA_MCP_NEW_CREDENTIALS_FILE")
    )
    verify_timeout_s: float = Field(
        20.0, ge=0, le=600, validation_alias=AliasChoices("NEXLA_MCP_VERIFY_TIMEOUT")
    )

    timeout_s: float = Field(30.0, gt=0, le=600, validation_alias=AliasChoices("NEXLA_MCP_TIMEOUT"))
    shutdown_grace_s: float = Field(
        30.0, ge=0, le=3600, validation_alias=AliasChoices("NEXLA_MCP_SHUTDOWN_GRACE")
    )
    log_level: LogLevel = Field("WARNING", validation_alias=AliasChoices("NEXLA_MCP_LOG_LEVEL"))
    log_format: Literal["text", "json"] = Field(
        "text", validation_alias=AliasChoices("NEXLA_MCP_LOG_FORMAT")
    )

    @field_validator(
        "toolsets",
        "tools",
        "exclude_tools",
        "allowed_hosts",
        "allowed_origins",
        "allow_flows",
        "deny_flows",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("allow_flows", "deny_flows")
    @classmethod
    def _positive_flow_ids(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(flow_id <= 0 for flow_id in value):
            raise ValueError("flow ids must be positive integers")
        return tuple(sorted(set(value)))

    @field_validator("secret")
    @classmethod
    def _long_secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("NEXLA_MCP_SECRET must be at least 32 characters")
        return value

    @field_validator("state_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("NEXLA_MCP_STATE_URL must be a postgresql:// URL")
        return value

    @field_validator("oauth_issuer", "oauth_audience", "oauth_jwks_url")
    @classmethod
    def _oauth_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an https:// (or http://) URL")
        return value

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("NEXLA_API_URL must start with https:// or http://")
        return value.rstrip("/")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("toolsets")
    @classmethod
    def _known_toolsets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from nexla_mcp.tools import TOOLSET_NAMES

        unknown = [name for name in value if name not in TOOLSET_NAMES]
        if unknown:
            valid = ", ".join(TOOLSET_NAMES)
            raise ValueError(f"unknown toolset(s) {', '.join(unknown)}; valid toolsets: {valid}")
        return tuple(name for name in TOOLSET_NAMES if name in value)

    @field_validator("tools", "exclude_tools")
    @classmethod
    def _known_tools(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from nexla_mcp.tools.profiles import CATALOG

        unknown = [name for name in value if name not in CATALOG]
        if unknown:
            raise ValueError(
                f"unknown tool(s) {', '.join(unknown)}; valid tools: {', '.join(CATALOG)}"
            )
        return tuple(name for name in CATALOG if name in value)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.profile is None:
            self.profile = "all" if self.toolsets else "default"
        if not self.toolsets:
            from nexla_mcp.tools import TOOLSET_NAMES

            self.toolsets = TOOLSET_NAMES
        if self.transport == "http" and self.http_token is None and self.oauth_issuer is None:
            # Without a token any local process (or a page a browser was tricked into
            # loading, past the Origin check) could call the write tools.
            if not self.http_writes_without_token:
                self.read_only = True
        if self.read_only or self.writes == "off":
            self.read_only, self.writes = True, "off"
        if not self.sandbox and self.service_key is None and self.access_token is None:
            raise ValueError(
                "no Nexla credentials: set NEXLA_SERVICE_KEY (recommended) or NEXLA_ACCESS_TOKEN, "
                "or pass --sandbox to run against the embedded Nexla simulation"
            )
        if (self.oauth_issuer is None) != (self.oauth_audience is None):
            raise ValueError(
                "NEXLA_MCP_OAUTH_ISSUER and NEXLA_MCP_OAUTH_AUDIENCE go together: the issuer "
                "whose tokens are accepted, and this server's resource URL they must be for"
            )
        if self.oauth_issuer is not None and self.http_token is not None:
            raise ValueError(
                "set either NEXLA_MCP_HTTP_TOKEN (one shared token) or NEXLA_MCP_OAUTH_ISSUER "
                "(signed-in users), not both"
            )
        authenticated = self.http_token is not None or self.oauth_issuer is not None
        if self.transport == "http" and not is_loopback(self.host) and not authenticated:
            raise ValueError(
                f"refusing to serve HTTP on non-loopback host {self.host} without "
                "NEXLA_MCP_HTTP_TOKEN or NEXLA_MCP_OAUTH_ISSUER: set one, or bind to 127.0.0.1"
            )
        if self.state_url is not None and "secret" not in self.model_fields_set:
            raise ValueError(
                "NEXLA_MCP_STATE_URL is for replicas, and replicas must share NEXLA_MCP_SECRET: "
                "set it (32+ characters, the same on every replica)"
            )
        return self

    @property
    def secret_configured(self) -> bool:
        """True when ``NEXLA_MCP_SECRET`` was set (not the random per-process default)."""
        return "secret" in self.model_fields_set

    @property
    def auth_mode(self) -> Literal["sandbox", "service_key", "access_token"]:
        """Which credential the Nexla client uses (the service key wins when both are set)."""
        if self.sandbox:
            return "sandbox"
        return "service_key" if self.service_key is not None else "access_token"

    @property
    def effective_state_dir(self) -> Path:
        """``state_dir``, except in sandbox mode without NEXLA_MCP_STATE_DIR: the run's own
        directory (``sandbox_run_dir``), so simulated operations never mix with live ones."""
        if self.sandbox and "state_dir" not in self.model_fields_set:
            return sandbox_run_dir() / "state"
        return self.state_dir

    @property
    def write_policy(self) -> WritePolicy:
        """The effective write policy (``off`` whenever read-only)."""
        return self.writes
