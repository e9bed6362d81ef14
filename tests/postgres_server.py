"""A throwaway PostgreSQL server for the test session, started from the system's binaries.

``initdb`` and ``pg_ctl`` run as the ``postgres`` system user when the session runs as root
(PostgreSQL refuses root), on a free loopback port, with the data directory and socket in a
temporary directory that user owns; fsync is off, as nothing outlives the session. Without
the binaries the PostgreSQL tests skip with the reason, unless ``NEXLA_MCP_REQUIRE_POSTGRES=1``
(set by ``.ci/run``), which turns that into a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.ports import free_port

__all__ = ["REQUIRED", "fresh_database", "postgres_server"]

REQUIRED = os.environ.get("NEXLA_MCP_REQUIRE_POSTGRES") == "1"


def unavailable(reason: str) -> None:
    """Skip (or, when PostgreSQL is required, fail) with ``reason``."""
    message = f"PostgreSQL unavailable: {reason}"
    if REQUIRED:
        pytest.fail(f"{message} (NEXLA_MCP_REQUIRE_POSTGRES=1)", pytrace=False)
    pytest.skip(message)


def _bindir() -> Path | None:
    try:
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        )
        candidates = [found.stdout.strip()]
    except (OSError, subprocess.CalledProcessError):
        candidates = []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yield ``postgresql://postgres@127.0.0.1:<port>``; stop and delete it."""
    bindir = _bindir()
    if bindir is None:
        unavailable("no initdb/pg_ctl (install the postgresql package)")
    assert bindir is not None
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    home = Path(tempfile.mkdtemp(prefix="nexla-mcp-pg-"))
    data = home / "data"
    if as_root:
        try:
            shutil.chown(home, "postgres", "postgres")
        except (LookupError, OSError) as error:
            shutil.rmtree(home, ignore_errors=True)
            unavailable(f"cannot hand the data directory to the postgres user: {error}")
    port = free_port()

    def run(*command: str) -> None:
        subprocess.run([*prefix, *command], check=True, capture_output=True, text=True, timeout=120)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-sync")  # fmt: skip
        options = f"-p {port} -k {home} -h 127.0.0.1 -F -c max_connections=200"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(home / "log"),
            "-w", "-t", "60", "start")  # fmt: skip
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", "") or ""
        log = home / "log"
        detail += log.read_text()[-2000:] if log.exists() else ""
        shutil.rmtree(home, ignore_errors=True)
        unavailable(f"could not start it: {error} {detail}".strip())
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server; yields its URL and drops it afterwards."""
    import psycopg

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server_url}/{name}"
    finally:
        with psycopg.connect(f"{server_url}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
