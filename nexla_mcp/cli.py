"""Command line entry point: ``nexla-mcp [serve options] | sandbox | demo``.

This is the only module that reads the process environment (through Settings). Credentials
and the HTTP token are read from the environment only, never from flags, so they do not show
up in process listings.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

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


SUBCOMMANDS = {"sandbox": _sandbox_command, "demo": _demo_command, "audit": _audit_command}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nexla-mcp",
        description="Serve the Nexla MCP server (stdio by default).",
        epilog="Subcommands: 'nexla-mcp sandbox' serves the simulated Nexla API over HTTP; "
        "'nexla-mcp demo' runs a troubleshooting session against it; 'nexla-mcp audit verify' "
        "checks the write audit chain. Credentials come from "
        "NEXLA_SERVICE_KEY or NEXLA_ACCESS_TOKEN (and NEXLA_API_URL); every flag also has a "
        "NEXLA_MCP_* environment variable.",
    )
    add = parser.add_argument
    add("--sandbox", action="store_true", default=None, help="use the embedded Nexla sandbox")
    add("--transport", choices=["stdio", "http"], help="stdio (default) or streamable HTTP")
    add("--host", help="HTTP bind address (default 127.0.0.1)")
    add("--port", type=int, help="HTTP port (default 8765)")
    add("--toolsets", help="comma-separated toolsets to enable (default: all)")
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
    return parser


def _settings_error(error: Exception) -> str:
    from pydantic import AliasChoices, ValidationError

    from nexla_mcp.settings import Settings

    if not isinstance(error, ValidationError):
        return str(error)
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in problem["loc"])
        field = Settings.model_fields.get(where)
        if field is not None and isinstance(field.validation_alias, AliasChoices):
            where = f"{where} ({field.validation_alias.choices[0]})"
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "\n".join(lines)


def configure_logging(level: str) -> None:
    """Log to stderr (stdout belongs to the stdio protocol), redacting every record."""
    from nexla_mcp.redaction import RedactingFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def parse_settings(argv: list[str]) -> Settings:
    """Settings from serve flags over ``NEXLA_*`` environment variables (flags win).

    Raises:
        SystemExit: a flag is malformed (argparse prints usage, exit code 2).
        pydantic.ValidationError: the resulting configuration is invalid.
    """
    from nexla_mcp.settings import Settings

    options = vars(_parser().parse_args(argv))
    return Settings(**{k: v for k, v in options.items() if v is not None})


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (2 for a configuration error)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        return SUBCOMMANDS[args[0]](args[1:])
    try:
        settings = parse_settings(args)
    except ValueError as error:
        print(f"nexla-mcp: configuration error\n{_settings_error(error)}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)

    from nexla_mcp.server.audit_file import AuditFileError
    from nexla_mcp.server.http import serve

    try:
        serve(settings)
    except AuditFileError as error:
        print(f"nexla-mcp: cannot start\n{error}", file=sys.stderr)
        return 2
    return 0
