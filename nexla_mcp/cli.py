"""Command line entry point: ``nexla-mcp [serve options] | sandbox | demo | doctor | audit``.

This is the only module that reads the process environment (through Settings). Credentials
and the HTTP token are read from the environment only, never from flags, so they do not show
up in process listings. Every start-up failure ends in one line on stderr naming the flag or
variable as the user set it, and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nexla_mcp.settings import Settings


def _sandbox_command(argv: list[str]) -> int:
    from nexla_mcp.sandbox.serve import main as sandbox_main

    return sandbox_main(argv)


def _demo_command(argv: list[str]) -> int:
    from nexla_mcp.demo import main as demo_main

    return demo_main(argv)


def _audit_command(argv: list[str]) -> int:
    import os
    from pathlib import Path

    from nexla_mcp.server.audit_cli import AuditTarget, audit_main
    from nexla_mcp.state import default_state_dir

    target = AuditTarget(
        state_dir=Path(os.environ.get("NEXLA_MCP_STATE_DIR") or default_state_dir()),
        state_url=os.environ.get("NEXLA_MCP_STATE_URL") or None,
        secret=os.environ.get("NEXLA_MCP_SECRET") or None,
    )
    return audit_main(argv, target)


def _doctor_command(argv: list[str]) -> int:
    from nexla_mcp.doctor import main as doctor_main

    return doctor_main(argv)


SUBCOMMANDS = {
    "sandbox": _sandbox_command,
    "demo": _demo_command,
    "doctor": _doctor_command,
    "audit": _audit_command,
}
# Settings fields whose flag is not "--" + the field name with dashes.
_FLAG_NAMES = {"timeout_s": "--timeout"}


def _version() -> str:
    from nexla_mcp import __version__

    return f"nexla-mcp {__version__}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nexla-mcp",
        description="Serve the Nexla MCP server (stdio by default).",
        epilog="Subcommands: 'nexla-mcp sandbox' serves the simulated Nexla API over HTTP; "
        "'nexla-mcp demo' runs a troubleshooting session against it; 'nexla-mcp doctor' checks "
        "the setup and says what to fix; 'nexla-mcp audit verify' checks the write audit "
        "chain. Credentials come from "
        "NEXLA_SERVICE_KEY or NEXLA_ACCESS_TOKEN (and NEXLA_API_URL); every flag also has a "
        "NEXLA_MCP_* environment variable.",
    )
    add = parser.add_argument
    add("--version", action="version", version=_version())
    add("--sandbox", action="store_true", default=None, help="use the embedded Nexla sandbox")
    add("--transport", choices=["stdio", "http"], help="stdio (default) or streamable HTTP")
    add("--host", help="HTTP bind address (default 127.0.0.1)")
    add("--port", type=int, help="HTTP port (default 8765)")
    add(
        "--http-stateless",
        action="store_true",
        default=None,
        help="HTTP: serve handshake-era (2025) clients without sessions, so replicas need no "
        "sticky routing (they then cannot be asked to approve a write)",
    )
    add(
        "--profile",
        choices=["default", "operator", "all"],
        help="which tools to list: default (troubleshooting), operator or all",
    )
    add("--toolsets", help="comma-separated toolsets to enable (default: all)")
    add("--tools", help="comma-separated tools to list besides the profile's")
    add("--exclude-tools", help="comma-separated tools never to list")
    add(
        "--dynamic-toolsets",
        action="store_true",
        default=None,
        help="list the profile plus enable_toolset, which adds toolsets on request",
    )
    add("--read-only", action="store_true", default=None, help="register no write tools")
    add(
        "--writes",
        choices=["off", "confirm", "human", "shadow"],
        help="write policy (default confirm)",
    )
    add("--allow-flows", help="comma-separated flow ids writes may touch (default: any)")
    add("--deny-flows", help="comma-separated flow ids writes may never touch")
    add("--timeout", type=float, dest="timeout_s", help="Nexla API timeout in seconds")
    add("--log-level", help="DEBUG, INFO, WARNING (default) or ERROR; logs go to stderr")
    add("--log-format", choices=["text", "json"], help="text (default) or one JSON object a line")
    return parser


def describe_settings_error(error: Exception, flags: frozenset[str] = frozenset()) -> str:
    """One line per problem, naming the setting as the user set it: the flag when it came from
    ``flags`` (field names given on the command line), else the environment variable."""
    from pydantic import AliasChoices, ValidationError

    from nexla_mcp.settings import Settings

    if not isinstance(error, ValidationError):
        return str(error)
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in problem["loc"])
        field = Settings.model_fields.get(where)
        if where in flags:
            where = _FLAG_NAMES.get(where, "--" + where.replace("_", "-"))
        elif field is not None and isinstance(field.validation_alias, AliasChoices):
            where = str(field.validation_alias.choices[0])
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "\n".join(lines)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr (stdout belongs to the stdio protocol), redacting every record and stamping
    it with the tool call's correlation id."""
    from nexla_mcp.correlation import CorrelationFilter, JsonFormatter
    from nexla_mcp.redaction import RedactingFilter

    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s]: %(message)s"
            )
        )
    handler.addFilter(RedactingFilter())
    handler.addFilter(CorrelationFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _flag_options(argv: list[str]) -> dict[str, Any]:
    """The serve flags given on the command line, by Settings field name."""
    options = vars(_parser().parse_args(argv))
    return {key: value for key, value in options.items() if value is not None}


def parse_settings(argv: list[str]) -> Settings:
    """Settings from serve flags over ``NEXLA_*`` environment variables (flags win).

    Raises:
        SystemExit: a flag is malformed (argparse prints usage, exit code 2).
        pydantic.ValidationError: the resulting configuration is invalid.
    """
    from nexla_mcp.settings import Settings

    return Settings(**_flag_options(argv))


def _listen(settings: Settings, flags: frozenset[str]) -> socket.socket | str:
    """Bind the HTTP port now, so a busy port or a bad host is one clear line, not a trace:
    the bound socket, or that line."""
    port = "--port" if "port" in flags else "NEXLA_MCP_PORT"
    host = "--host" if "host" in flags else "NEXLA_MCP_HOST"
    from nexla_mcp.sandbox.serve import bind_error_reason

    try:
        return socket.create_server((settings.host, settings.port))
    except OSError as error:
        if (error.errno or 0) < 0:  # the resolver's codes are negative: the host is the problem
            return (
                f"nexla-mcp: cannot listen on {settings.host} ({host} {settings.host}): "
                f"{bind_error_reason(error)}; use an address of this machine, e.g. 127.0.0.1"
            )
        return (
            f"nexla-mcp: cannot listen on {settings.host}:{settings.port} ({port} "
            f"{settings.port}): {bind_error_reason(error)}; choose another port with {port}"
        )


def _import_httpx_without_its_command_line() -> None:
    """Import httpx without ``httpx._main``, its command line client, which it imports whenever
    rich, pygments and click are installed (the test extra brings them): that is tens of
    milliseconds of a start spent on code the server never runs. httpx falls back to a stub
    ``main`` when the import fails; the module stays importable afterwards."""
    if "httpx" in sys.modules:
        return
    sys.modules["httpx._main"] = None  # type: ignore[assignment]  # makes the import fail
    try:
        import httpx  # noqa: F401
    finally:
        del sys.modules["httpx._main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (2 for a configuration error)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        return SUBCOMMANDS[args[0]](args[1:])
    from nexla_mcp.startup_gc import pause_collection, resume_collection

    pause_collection()  # the server resumes it once ready to answer
    try:
        return _serve(args)
    finally:
        resume_collection()


def _serve(args: list[str]) -> int:
    options = _flag_options(args)
    flags = frozenset(options)
    from nexla_mcp.settings import Settings

    try:
        settings = Settings(**options)
    except ValueError as error:
        for line in describe_settings_error(error, flags).splitlines():
            print(f"nexla-mcp: {line}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    listener = None
    if settings.transport == "http":
        listener = _listen(settings, flags)
        if isinstance(listener, str):
            print(listener, file=sys.stderr)
            return 2

    _import_httpx_without_its_command_line()
    from nexla_mcp.server.audit_file import AuditFileError
    from nexla_mcp.server.http import serve

    try:
        serve(settings, listener=listener)
    except AuditFileError as error:
        print(f"nexla-mcp: cannot start: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    return 0
