"""``nexla-mcp doctor``: check a setup end to end, and say what to fix for each failure.

It runs the checks a first tool call would otherwise trip over, in order: the configuration,
reaching the API, a session token, who the credential acts as (user and org), reading flows,
one credential probe, and whether the audit log and the state directory can be written. A
check that needs an earlier one is skipped when that one failed. Each failure is one line:
what is wrong and the fix. The exit code names the first failure's class (``EXIT_CODES``), so
a script can tell a wrong URL from a wrong key; ``--json`` prints the same as one object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio
import httpx

from nexla_mcp.connect import api_url, nexla_client
from nexla_mcp.errors import NexlaError
from nexla_mcp.faults import FAULTS, MAX_CLOCK_SKEW_S, clock_skew_s, connect_error, fault_of

if TYPE_CHECKING:
    from nexla_mcp.nexla import NexlaClient
    from nexla_mcp.settings import Settings

__all__ = ["EXIT_CODES", "Check", "main", "run_checks"]

# One code per class of fix; 1 stays Python's own for a crash.
EXIT_CODES = {
    "ok": 0,
    "config": 2,
    "api_url": 3,
    "unreachable": 4,
    "tls": 5,
    "service_key": 6,
    "access_token": 7,
    "clock_skew": 8,
    "permission": 9,
    "local_state": 10,
    "upstream": 11,
}
_FIXES = {
    "config": "Fix the setting named above (nexla-mcp --help lists them all).",
    "local_state": "Point the setting at a directory this user can write, or create it.",
}

Status = Literal["ok", "fail", "warn", "skip"]


@dataclass
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str
    fix: str | None = None
    fault: str | None = None


def _failed(name: str, error: BaseException) -> Check:
    fault = fault_of(error)
    message = error.message if isinstance(error, NexlaError) else str(error)
    hint = error.hint if isinstance(error, NexlaError) else None
    return Check(name, "fail", message, hint or FAULTS.get(fault), fault)


async def _reach(settings: Settings, http: httpx.AsyncClient, api_url: str) -> Check:
    """Any HTTP answer at the base URL counts: it proves DNS, TCP and TLS work."""
    started = time.perf_counter()
    try:
        reply = await http.get(api_url + "/", timeout=settings.timeout_s)
    except httpx.ConnectError as exc:
        host = httpx.URL(api_url).netloc.decode()
        return _failed("reach the API", connect_error("GET /", host, exc))
    except httpx.HTTPError as exc:
        return Check(
            "reach the API",
            "fail",
            f"GET {api_url}/ failed ({type(exc).__name__}).",
            FAULTS["unreachable"],
            "unreachable",
        )
    elapsed_ms = (time.perf_counter() - started) * 1000
    skew = clock_skew_s(reply.headers.get("date"), time.time())
    if skew is not None and abs(skew) > MAX_CLOCK_SKEW_S:
        return Check(
            "reach the API",
            "warn",
            f"answered, but this machine's clock is {abs(skew) / 60:.0f} min off the server's.",
            "Turn on network time sync (NTP): tokens will look expired.",
            "clock_skew",
        )
    return Check("reach the API", "ok", f"answered HTTP {reply.status_code} in {elapsed_ms:.0f} ms")


async def _token(settings: Settings, client: NexlaClient) -> Check:
    if settings.auth_mode == "access_token":
        return Check("session token", "ok", "NEXLA_ACCESS_TOKEN is used as is (checked next)")
    await client.authenticate()
    return Check("session token", "ok", "obtained with the service key")


async def _identity(client: NexlaClient) -> Check:
    user = await client.get_current_user()
    org = user.get("org") or user.get("default_org") or {}
    who = user.get("email") or user.get("full_name") or f"user {user.get('id', '?')}"
    where = f"org {org.get('name', '?')} ({org.get('id', '?')})" if org else "no org in the reply"
    return Check("identity and org", "ok", f"{who}, {where}")


async def _flows(client: NexlaClient) -> Check:
    page = await client.list_flows(per_page=1)
    count = page.total if page.total is not None else len(page.flows)
    return Check("read flows", "ok", f"{count} flows visible")


async def _probe(client: NexlaClient) -> Check:
    from nexla_mcp.errors import CredentialError

    credentials = await client.list_credentials(per_page=1)
    if not credentials.items:
        return Check("credential probe", "skip", "no credentials in the org to probe")
    credential = credentials.items[0]
    try:
        await client.probe_credential(credential.id)
    except CredentialError:
        # The external system refused that one credential: the setup itself works.
        return Check(
            "credential probe",
            "warn",
            f"credential {credential.id} failed its probe (the probe call itself works)",
        )
    return Check("credential probe", "ok", f"credential {credential.id} probed: ok")


def _writable_dir(directory: Path) -> str | None:
    """None when ``directory`` exists (or can be made) and takes a new file; else why not."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".doctor-"):
            pass
    except OSError as error:
        return error.strerror or type(error).__name__
    return None


def _local_state(settings: Settings) -> list[Check]:
    checks = []
    # The audit chain lives in the state store (the state directory, checked next); with
    # NEXLA_MCP_AUDIT_LOG set, a JSON-lines copy is written there too.
    audit = settings.audit_path
    problem = _writable_dir(audit.parent) if audit is not None else None
    if problem is None and audit is not None and audit.exists() and not os.access(audit, os.W_OK):
        problem = "the file is read-only"
    if audit is None:
        checks.append(Check("audit log", "ok", "kept in the state store (state directory)"))
    elif problem:
        checks.append(
            Check(
                "audit log",
                "fail",
                f"cannot write {audit}: {problem}",
                f"Set NEXLA_MCP_AUDIT_LOG to a writable path. {_FIXES['local_state']}",
                "local_state",
            )
        )
    else:
        checks.append(Check("audit log", "ok", f"{audit} is writable"))
    problem = _writable_dir(settings.state_dir)
    if problem:
        checks.append(
            Check(
                "state directory",
                "fail",
                f"cannot write {settings.state_dir}: {problem}",
                f"Set NEXLA_MCP_STATE_DIR to a writable directory. {_FIXES['local_state']}",
                "local_state",
            )
        )
    else:
        checks.append(Check("state directory", "ok", f"{settings.state_dir} is writable"))
    return checks


async def run_checks(settings: Settings) -> list[Check]:
    """Every check against ``settings``, in order; later API checks skip after a failure."""
    transport: httpx.AsyncBaseTransport | None = None
    if settings.sandbox:
        from nexla_mcp.sandbox import create_app

        transport = httpx.ASGITransport(app=create_app())
    checks = [_configuration(settings)]
    async with httpx.AsyncClient(transport=transport, follow_redirects=False) as http:
        reach = await _reach(settings, http, api_url(settings))
        checks.append(reach)
        blocked: str | None = reach.name if reach.status == "fail" else None
        async with nexla_client(settings, http_client=http) as client:
            steps = [
                ("session token", lambda: _token(settings, client)),
                ("identity and org", lambda: _identity(client)),
                ("read flows", lambda: _flows(client)),
                ("credential probe", lambda: _probe(client)),
            ]
            for name, step in steps:
                if blocked:
                    checks.append(Check(name, "skip", f"needs: {blocked}"))
                    continue
                try:
                    check = await step()
                except NexlaError as error:
                    check, blocked = _failed(name, error), name
                checks.append(check)
    checks.extend(_local_state(settings))
    return checks


def _configuration(settings: Settings) -> Check:
    auth = {"sandbox": "the embedded sandbox", "service_key": "a service key"}.get(
        settings.auth_mode, "an access token"
    )
    return Check(
        "configuration",
        "ok",
        f"{auth}; writes {settings.write_policy}; {len(settings.toolsets)} toolsets",
    )


def exit_code(checks: list[Check]) -> int:
    """The code of the first failure's class, 0 when nothing failed."""
    for check in checks:
        if check.status == "fail":
            return EXIT_CODES.get(check.fault or "upstream", EXIT_CODES["upstream"])
    return 0


def _line(check: Check) -> str:
    label = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "skip": "skip"}[check.status]
    fix = f" Fix: {check.fix}" if check.fix and check.status in ("fail", "warn") else ""
    return f"{label}  {check.name:<17} {check.detail}{fix}"


def _report(settings: Settings | None, checks: list[Check], as_json: bool) -> int:
    from nexla_mcp import __version__

    code = exit_code(checks)
    failure = next((c.fault for c in checks if c.status == "fail"), None)
    if as_json:
        print(
            json.dumps(
                {
                    "version": __version__,
                    "api_url": api_url(settings) if settings else None,
                    "ok": code == 0,
                    "exit_code": code,
                    "failure": failure,
                    "checks": [
                        {k: v for k, v in asdict(c).items() if v is not None} for c in checks
                    ],
                },
                indent=2,
            )
        )
        return code
    if settings is not None:
        target = "the embedded sandbox" if settings.sandbox else settings.api_url
        print(f"nexla-mcp {__version__} doctor: {target}")
    for check in checks:
        print(_line(check))
    if code == 0:
        print("All checks passed: add the server to your MCP host (README, 'Set up a host').")
    else:
        print(f"First problem: {FAULTS.get(failure or '', failure)} (exit {code}).")
    return code


def main(argv: list[str]) -> int:
    """``nexla-mcp doctor [--json] [--sandbox]``."""
    parser = argparse.ArgumentParser(
        prog="nexla-mcp doctor",
        description="Check the configuration, the Nexla API, the credential and local state; "
        "print a fix for each failure. Exit codes: "
        + ", ".join(f"{code} {name}" for name, code in EXIT_CODES.items())
        + ".",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--sandbox", action="store_true", default=None, help="check the embedded sandbox"
    )
    args = parser.parse_args(argv)
    from nexla_mcp.cli import describe_settings_error
    from nexla_mcp.settings import Settings

    try:
        settings = Settings(**({"sandbox": True} if args.sandbox else {}))
    except ValueError as error:
        message = describe_settings_error(error).replace("\n", "; ")
        check = Check("configuration", "fail", message, _FIXES["config"], "config")
        return _report(None, [check], args.json)
    return _report(settings, anyio.run(run_checks, settings), args.json)
