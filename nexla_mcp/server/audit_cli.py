"""``nexla-mcp audit verify [PATH]`` and ``nexla-mcp audit export PATH``.

Without PATH, ``verify`` checks the chain in the state store (``NEXLA_MCP_STATE_URL``, or the
SQLite file in ``NEXLA_MCP_STATE_DIR``) against its head; with PATH it checks a file copy.
Both need the key the records were written under: ``NEXLA_MCP_SECRET``, or the key file the
server keeps in the state directory when no secret is set.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import anyio

from nexla_mcp.server.audit import (
    AuditFileError,
    AuditLog,
    ChainCheck,
    ChainKey,
    verify_audit_file,
    verify_audit_store,
)
from nexla_mcp.state import StateError, StateStore, store_for

__all__ = ["AuditTarget", "audit_main"]


@dataclass(frozen=True)
class AuditTarget:
    """Where the chain lives and its key's source, as the environment configures them."""

    state_dir: Path
    state_url: str | None = None
    secret: str | None = None

    def store(self) -> StateStore:
        """The configured state store (not yet opened)."""
        return store_for(self.state_dir, self.state_url)

    def key(self) -> ChainKey:
        """The chain key (from the secret, or the state directory's key file)."""
        return ChainKey.for_settings(self.secret, self.state_dir)


async def _verify_store(target: AuditTarget) -> ChainCheck:
    store = target.store()
    await store.open()
    try:
        return await verify_audit_store(store, target.key())
    finally:
        await store.close()


async def _export(target: AuditTarget, path: Path) -> int:
    store = target.store()
    await store.open()
    try:
        return await AuditLog(store, target.key(), mirror=path).sync_mirror()
    finally:
        await store.close()


def _report(where: str, check: ChainCheck) -> int:
    if check.ok:
        print(f"{where}: {check.records} records, chain intact")
        return 0
    at = f"record {check.bad_line}: " if check.bad_line else ""
    print(f"{where}: {at}{check.problem}", file=sys.stderr)
    return 1


def audit_main(argv: list[str], target: AuditTarget) -> int:
    """Run the audit subcommand; exit 0 if intact, 1 if not, 2 if it cannot be read."""
    parser = argparse.ArgumentParser(
        prog="nexla-mcp audit", description="Check or export the write audit chain."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="verify the chain (in the store, or a file)")
    verify.add_argument("path", nargs="?", help="a file copy (default: the state store)")
    export = commands.add_parser("export", help="write or bring up to date a file copy")
    export.add_argument("path", help="the JSON-lines file to write")
    args = parser.parse_args(argv)
    try:
        if args.command == "export":
            written = anyio.run(_export, target, Path(args.path))
            print(f"{args.path}: {written} records appended")
            return 0
        if args.path:
            return _report(args.path, verify_audit_file(Path(args.path), target.key()))
        return _report(target.store().location, anyio.run(_verify_store, target))
    except (OSError, AuditFileError, StateError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        print(f"nexla-mcp audit: cannot read the audit log: {reason}", file=sys.stderr)
        return 2
